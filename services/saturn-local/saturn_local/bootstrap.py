"""First start: the account and its primary agent, keyed by ``SATURN_LOCAL_BOOTSTRAP_KEY``."""

from __future__ import annotations

import logging

from saturn_local.agents.repository import AgentRepository
from saturn_local.agents.service import AgentService
from saturn_local.ids import hash_key, looks_like_key

logger = logging.getLogger("saturn_local.bootstrap")


class BootstrapError(RuntimeError):
    pass


async def bootstrap(repo: AgentRepository, agents: AgentService, key: str | None) -> None:
    """Create the account on an empty database; refuse to start without a key to give it.

    A generated key nobody can read would lock everyone out, so there is no fallback.
    """
    if key is not None and not looks_like_key(key):
        raise BootstrapError("SATURN_LOCAL_BOOTSTRAP_KEY must be 'sk_agt_' followed by 64 hex")
    if key is None:
        if await repo.has_account():
            return
        raise BootstrapError(
            "The saturn-local database has no account: set SATURN_LOCAL_BOOTSTRAP_KEY"
            " (sk_agt_ + 64 hex) for the first start"
        )
    if await agents.bootstrap(key):
        logger.info("created the saturn-local account and its primary agent")
    elif await repo.by_key_hash(hash_key(key)) is None:
        logger.warning(
            "SATURN_LOCAL_BOOTSTRAP_KEY is not a key of the existing account; keeping the account"
        )
