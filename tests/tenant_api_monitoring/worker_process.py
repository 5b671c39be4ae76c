"""A second "tenant-api process" for the tests: runs the outbox worker on the given database
until ``N`` deliveries are done (``python -m tests.tenant_api_monitoring.worker_process URL N``;
the keyring spec comes in ``COPILOT_ENCRYPTION_KEYS``). Prints ``ready`` once polling."""

from __future__ import annotations

import asyncio
import os
import sys
import time

from sqlalchemy import text

from copilot_kit.crypto import Keyring
from copilot_kit.db import make_engine, make_sessionmaker
from tenant_api.monitoring.settings import MonitoringSettings
from tenant_api.webhooks.delivery import DeliveryWorker


async def main(url: str, expected: int) -> None:
    engine = make_engine(url, pool_size=4)
    sessionmaker = make_sessionmaker(engine)
    worker = DeliveryWorker(
        sessionmaker=sessionmaker,
        keyring=Keyring.parse(os.environ["COPILOT_ENCRYPTION_KEYS"]),
        settings=MonitoringSettings(webhook_timeout_seconds=2.0),
    )
    deadline = time.monotonic() + 15
    print("ready", flush=True)
    try:
        while time.monotonic() < deadline:
            await worker.run_once()
            async with sessionmaker() as session:
                delivered = await session.scalar(
                    text("SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'")
                )
            if delivered is not None and delivered >= expected:
                break
            await asyncio.sleep(0.01)
        await worker.wait_idle()
    finally:
        await worker.aclose()
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
