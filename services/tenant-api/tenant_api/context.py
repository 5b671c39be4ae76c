"""What a running tenant-api holds for its whole life (built by the lifespan)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from copilot_kit.crypto import Keyring
from copilot_kit.saturn.client import SaturnClient
from tenant_api.config import Settings


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    saturn: SaturnClient
    keyring: Keyring

    @property
    def token_secret(self) -> bytes:
        return self.settings.token_secret.get_secret_value().encode()

    def __repr__(self) -> str:
        return f"AppContext(saturn={self.saturn!r}, keyring={self.keyring!r})"
