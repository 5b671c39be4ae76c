"""``saas-copilot``: the operator's command line.

saas-copilot up [--detach]       start Postgres (embedded unless DATABASE_URL), migrate,
                                 start saturn-local, tenant-api and copilot-gateway
saas-copilot down                stop a detached stack; nothing is left running
saas-copilot rotate-encryption-key
                                 re-encrypt every stored agent key under a new key
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from types import FrameType

from saas_copilot import stack as stack_mod
from saas_copilot.config import Paths


def _banner(info: dict[str, object]) -> None:
    print("SaaS Copilot is up.")
    print(f"  copilot-gateway  {info['gateway_url']}")
    print(f"  tenant-api       {info['tenant_api_url']}")
    print(f"  saturn           {info['saturn_url']}")
    # The one place a secret is printed, as DESIGN.md allows: the operator needs it.
    print(f"  admin token      {info['admin_token']}")
    print(f"  state            {info['stack_file']}, logs in {info['log_dir']}")


def cmd_up(args: argparse.Namespace) -> int:
    paths = Paths.from_env()
    try:
        info, pids = stack_mod.start(paths)
    except stack_mod.StackError as exc:
        print(f"saas-copilot up: {exc}", file=sys.stderr)
        return 1
    _banner(info)
    if args.detach:
        print("Detached. Stop it with: saas-copilot down")
        return 0

    print("Press Ctrl-C to stop.")
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    exit_code = 0
    while not stopping:
        if not all(stack_mod._pid_alive(pid) for pid in pids):
            print("saas-copilot: a service exited; stopping the stack.", file=sys.stderr)
            exit_code = 1
            break
        time.sleep(0.3)
    print("Stopping...")
    stack_mod.stop(paths)
    print("Stopped.")
    return exit_code


def cmd_down(args: argparse.Namespace) -> int:
    paths = Paths.from_env()
    if stack_mod.stop(paths):
        print("SaaS Copilot stopped.")
    else:
        print("Nothing was running.")
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    from saas_copilot.rotation import rotate

    result: int = rotate(Paths.from_env())
    return result


def cmd_migrate(args: argparse.Namespace) -> int:
    """Create (if needed) and migrate the databases, for deployments that run services
    themselves (docker-compose, Kubernetes)."""
    import asyncio

    try:
        _, saturn_url, _ = asyncio.run(
            stack_mod.prepare_databases(Paths.from_env(), not args.hosted_saturn)
        )
    except Exception as exc:
        print(f"saas-copilot migrate: {exc}", file=sys.stderr)
        return 1
    print("Migrated tenant_api" + (" and saturn_local." if saturn_url else "."))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Print a tenant-api report as a table (from the running stack or TENANT_API_URL)."""
    import os

    import httpx

    from tenant_api.reports.tables import format_report

    stack = stack_mod.read_stack(Paths.from_env()) or {}
    url = os.environ.get("TENANT_API_URL") or stack.get("tenant_api_url")
    token = os.environ.get("COPILOT_ADMIN_TOKEN") or stack.get("admin_token")
    if not url or not token:
        print(
            "saas-copilot report: no running stack (.run/stack.json) and no "
            "TENANT_API_URL + COPILOT_ADMIN_TOKEN.",
            file=sys.stderr,
        )
        return 1
    params: dict[str, str] = {}
    if args.month:
        params["month"] = args.month
    if args.kind == "heavy-users" and args.min_days_at_cap is not None:
        params["min_days_at_cap"] = str(args.min_days_at_cap)
    try:
        resp = httpx.get(
            f"{url}/v1/reports/{args.kind}",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        print(f"saas-copilot report: tenant-api unreachable: {exc}", file=sys.stderr)
        return 1
    if resp.status_code != 200:
        message = resp.json().get("error", {}).get("message", resp.text)
        print(f"saas-copilot report: {message}", file=sys.stderr)
        return 1
    print(format_report(args.kind, resp.json()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="saas-copilot", description="SaaS Copilot operator CLI")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the stack")
    up.add_argument("--detach", action="store_true", help="return once every service is healthy")
    up.set_defaults(func=cmd_up)
    down = sub.add_parser("down", help="stop a detached stack")
    down.set_defaults(func=cmd_down)
    migrate = sub.add_parser("migrate", help="create and migrate the databases, then exit")
    migrate.add_argument(
        "--hosted-saturn", action="store_true", help="skip saturn-local's database"
    )
    migrate.set_defaults(func=cmd_migrate)
    report = sub.add_parser("report", help="print a report as a table")
    report.add_argument("kind", choices=["heavy-users", "margin", "bursts"])
    report.add_argument("--month", help="YYYY-MM (default: this month)")
    report.add_argument("--min-days-at-cap", type=int, default=None)
    report.set_defaults(func=cmd_report)
    rotate = sub.add_parser(
        "rotate-encryption-key", help="re-encrypt every stored agent key under a new key"
    )
    rotate.set_defaults(func=cmd_rotate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result
