"""Gateway overhead: the same calls through copilot-gateway and straight to saturn-local.

Uses a running stack (``saas-copilot up --detach`` writes ``.run/stack.json``). Signs up one
enterprise customer, takes an access token and the agent key (the internal route, with the
service token), then at each concurrency runs both paths for a fixed time and prints
latency percentiles, throughput, the added latency and the throughput ratio. Start the stack
with the offline model at 0 ms (``OFFLINE_LATENCY_MS=0``) so the model does not dominate.

    .venv/bin/python bench/gateway.py [--stack .run/stack.json] [--seconds 5] [--rounds 2]

Targets (issue 4): added p50 <= 2 ms at concurrency 1; gateway throughput >= 0.5x direct.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "Summarise: the quarterly report shows revenue up and costs flat across regions."
MAX_TOKENS = 16


@dataclass
class Run:
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> int:
        return len(self.latencies_ms)

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(q * len(data)))]


@dataclass
class Target:
    name: str
    url: str
    headers: dict[str, str]
    body: bytes


async def _setup(session: aiohttp.ClientSession, info: dict[str, Any]) -> tuple[str, str]:
    """A fresh enterprise customer: (access token, agent key)."""
    tenant = info["tenant_api_url"].rstrip("/")
    admin = {"Authorization": f"Bearer {info['admin_token']}"}
    external_id = f"bench-{uuid.uuid4().hex[:10]}"
    async with session.post(
        f"{tenant}/v1/customers",
        json={"external_id": external_id, "name": "Gateway benchmark", "plan": "enterprise"},
        headers=admin,
    ) as resp:
        if resp.status not in (200, 201):
            raise SystemExit(f"signup failed: {resp.status} {await resp.text()}")
        customer_id = (await resp.json())["id"]
    async with session.post(
        f"{tenant}/v1/customers/{customer_id}/access-tokens",
        json={"ttl_seconds": 3600},
        headers=admin,
    ) as resp:
        if resp.status != 201:
            raise SystemExit(f"access token failed: {resp.status} {await resp.text()}")
        token = (await resp.json())["token"]
    service_token = info.get("service_token")
    if not service_token:
        raise SystemExit("stack.json has no service_token: the agent key cannot be read")
    async with session.get(
        f"{tenant}/internal/v1/customers/{customer_id}/agent",
        headers={"Authorization": f"Bearer {service_token}"},
    ) as resp:
        if resp.status != 200:
            raise SystemExit(f"agent lookup failed: {resp.status} {await resp.text()}")
        agent_key = (await resp.json())["agent_api_key"]
    return token, agent_key


async def _drive(
    session: aiohttp.ClientSession, target: Target, concurrency: int, seconds: float
) -> Run:
    run = Run()
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            async with session.post(target.url, data=target.body, headers=target.headers) as r:
                await r.read()
                status = r.status
            if status == 200:
                run.latencies_ms.append((time.perf_counter() - started) * 1000)
            else:
                run.errors[status] = run.errors.get(status, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    run.seconds = time.perf_counter() - started
    return run


def _merge(runs: list[Run]) -> Run:
    merged = Run()
    for run in runs:
        merged.latencies_ms += run.latencies_ms
        merged.seconds += run.seconds
        for status, count in run.errors.items():
            merged.errors[status] = merged.errors.get(status, 0) + count
    return merged


async def main(args: argparse.Namespace, info: dict[str, Any]) -> int:
    # Idle connections are dropped before uvicorn's 5 s keep-alive ends: reusing one the
    # server is closing fails the request ("Can not write request body").
    connector = aiohttp.TCPConnector(limit=0, force_close=False, keepalive_timeout=3.0)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        token, agent_key = await _setup(session, info)
        json_headers = {"Content-Type": "application/json"}
        direct = Target(
            "direct",
            f"{info['saturn_url'].rstrip('/')}/v1/capabilities/reason",
            {**json_headers, "Authorization": f"Bearer {agent_key}"},
            json.dumps({"prompt": PROMPT, "max_tokens": MAX_TOKENS}).encode(),
        )
        gateway = Target(
            "gateway",
            f"{info['gateway_url'].rstrip('/')}/v1/copilot/reason",
            {**json_headers, "Authorization": f"Bearer {token}"},
            json.dumps({"prompt": PROMPT, "max_output_tokens": MAX_TOKENS}).encode(),
        )
        for target in (direct, gateway):  # warm pools, caches and the resolution
            warm = await _drive(session, target, 8, 1.0)
            if not warm.ok:
                raise SystemExit(f"{target.name}: no successful call in warm-up: {warm.errors}")

        rows = []
        failed = False
        for concurrency in args.concurrency:
            results: dict[str, list[Run]] = {"direct": [], "gateway": []}
            # Alternate the two paths so drift on a shared machine hits both alike.
            for _ in range(args.rounds):
                for target in (direct, gateway):
                    results[target.name].append(
                        await _drive(session, target, concurrency, args.seconds)
                    )
            d, g = _merge(results["direct"]), _merge(results["gateway"])
            if d.errors or g.errors:
                failed = True
            rows.append((concurrency, d, g))

    header = (
        f"{'conc':>4} | {'direct p50':>10} {'p99':>7} {'req/s':>8} | "
        f"{'gateway p50':>11} {'p99':>7} {'req/s':>8} | {'added p50':>9} {'added p99':>9} | "
        f"{'ratio':>5}"
    )
    print(header)
    print("-" * len(header))
    verdicts = []
    for concurrency, d, g in rows:
        added50, added99 = g.pct(0.5) - d.pct(0.5), g.pct(0.99) - d.pct(0.99)
        ratio = g.rps / d.rps if d.rps else float("nan")
        print(
            f"{concurrency:>4} | {d.pct(0.5):>8.2f}ms {d.pct(0.99):>5.1f}ms {d.rps:>8.0f} | "
            f"{g.pct(0.5):>9.2f}ms {g.pct(0.99):>5.1f}ms {g.rps:>8.0f} | "
            f"{added50:>7.2f}ms {added99:>7.2f}ms | {ratio:>5.2f}"
        )
        if d.errors or g.errors:
            print(f"     non-200 answers: direct {d.errors}, gateway {g.errors}")
        if concurrency == 1:
            verdicts.append(("added p50 <= 2 ms at concurrency 1", added50 <= 2.0))
        if concurrency >= 32:
            verdicts.append((f"throughput ratio >= 0.5 at concurrency {concurrency}", ratio >= 0.5))
    print()
    for name, passed in verdicts:
        print(f"{'PASS' if passed else 'MISS'}  {name}")
    if failed:
        print("FAIL  some calls did not answer 200 (see above)")
        return 1
    return 1 if args.strict and not all(p for _, p in verdicts) else 0


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default=str(ROOT / ".run" / "stack.json"))
    parser.add_argument("--seconds", type=float, default=5.0, help="per path, per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = _parse()
    stack_path = Path(arguments.stack)
    if not stack_path.exists():
        sys.exit(f"{stack_path} not found: start the stack with `saas-copilot up --detach`")
    stack_info = json.loads(stack_path.read_text())
    try:
        import uvloop
    except ImportError:
        sys.exit(asyncio.run(main(arguments, stack_info)))
    sys.exit(uvloop.run(main(arguments, stack_info)))
