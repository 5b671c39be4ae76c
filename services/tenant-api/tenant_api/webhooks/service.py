"""Webhook endpoints: the secret is shown once, stored encrypted (it must sign later)."""

from __future__ import annotations

import secrets

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from copilot_kit.crypto import Keyring
from copilot_kit.errors import NotFound
from tenant_api.webhooks import repository
from tenant_api.webhooks.schemas import (
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointRead,
)

_SECRET_PURPOSE = b"webhook-endpoint-secret:"


class WebhookEndpointNotFound(NotFound):
    code = "webhook_endpoint_not_found"

    def __init__(self, endpoint_id: str) -> None:
        super().__init__(
            f"There is no webhook endpoint '{endpoint_id}'.", webhook_endpoint_id=endpoint_id
        )


def secret_associated_data(endpoint_id: str) -> bytes:
    """Binds the ciphertext to its endpoint: copied onto another row it fails to decrypt."""
    return _SECRET_PURPOSE + endpoint_id.encode()


def open_secret(keyring: Keyring, endpoint_id: str, ciphertext: bytes) -> str:
    return keyring.decrypt(ciphertext, secret_associated_data(endpoint_id)).decode()


def _read(row: repository.EndpointRow) -> WebhookEndpointRead:
    return WebhookEndpointRead.model_validate(row, from_attributes=True)


class WebhookEndpointService:
    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    async def create(
        self, session: AsyncSession, data: WebhookEndpointCreate
    ) -> WebhookEndpointCreated:
        endpoint_id = "whe_" + secrets.token_hex(12)
        secret = "whsec_" + secrets.token_hex(32)
        row = await repository.insert_endpoint(
            session,
            endpoint_id=endpoint_id,
            url=data.url,
            events=[event.value for event in data.events],
            secret_ciphertext=self._keyring.encrypt(
                secret.encode(), secret_associated_data(endpoint_id)
            ),
            secret_kid=self._keyring.active_kid,
            secret_last4=secret[-4:],
        )
        return WebhookEndpointCreated(**_read(row).model_dump(), secret=secret)

    async def list(self, session: AsyncSession) -> list[WebhookEndpointRead]:
        return [_read(row) for row in await repository.list_endpoints(session)]

    async def get(self, session: AsyncSession, endpoint_id: str) -> WebhookEndpointRead:
        row = await repository.get_endpoint(session, endpoint_id)
        if row is None:
            raise WebhookEndpointNotFound(endpoint_id)
        return _read(row)

    async def delete(self, session: AsyncSession, endpoint_id: str) -> None:
        if not await repository.delete_endpoint(session, endpoint_id):
            raise WebhookEndpointNotFound(endpoint_id)


async def reencrypt_webhook_secrets(session: AsyncSession, keyring: Keyring) -> int:
    """Re-encrypt every endpoint secret under the active key (for key rotation)."""
    rows = (
        await session.execute(
            text("SELECT id, secret_ciphertext FROM webhook_endpoints ORDER BY id FOR UPDATE")
        )
    ).all()
    for row in rows:
        await session.execute(
            text(
                "UPDATE webhook_endpoints SET secret_ciphertext = :ciphertext, secret_kid = :kid "
                "WHERE id = :id"
            ),
            {
                "id": row.id,
                "ciphertext": keyring.reencrypt(
                    row.secret_ciphertext, secret_associated_data(row.id)
                ),
                "kid": keyring.active_kid,
            },
        )
    return len(rows)
