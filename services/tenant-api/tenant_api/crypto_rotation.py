"""Re-encrypt every stored agent key under the keyring's active key
(``saas-copilot rotate-encryption-key``)."""

from __future__ import annotations

from sqlalchemy import select, update

from copilot_kit.crypto import Keyring
from copilot_kit.db import make_engine, make_sessionmaker
from tenant_api.customers.agent_keys import associated_data
from tenant_api.models import Customer
from tenant_api.webhooks.service import reencrypt_webhook_secrets


async def rotate_encryption_key(database_url: str, keyring: Keyring) -> int:
    """Re-encrypt all stored agent keys with ``keyring.active_kid`` in one transaction;
    returns how many were re-encrypted.

    ``keyring`` must still hold every key that made a stored ciphertext; afterwards the old
    keys can be removed from ``COPILOT_ENCRYPTION_KEYS``. A ciphertext that does not decrypt
    aborts the whole rotation (nothing is changed) with :class:`DecryptionError`.
    """
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            rows = (
                await session.execute(
                    select(Customer.id, Customer.agent_key_ciphertext)
                    .where(Customer.agent_key_ciphertext.is_not(None))
                    .order_by(Customer.id)
                    .with_for_update()
                )
            ).all()
            for customer_id, ciphertext in rows:
                assert ciphertext is not None
                await session.execute(
                    update(Customer)
                    .where(Customer.id == customer_id)
                    .values(
                        agent_key_ciphertext=keyring.reencrypt(
                            ciphertext, associated_data(customer_id)
                        ),
                        agent_key_kid=keyring.active_kid,
                    )
                    .execution_options(synchronize_session=False)
                )
            # Webhook secrets are under the same keyring: rotate them with the agent keys.
            await reencrypt_webhook_secrets(session, keyring)
            return len(rows)
    finally:
        await engine.dispose()
