"""SQLAlchemy models of the tenant_api database (the schema itself lives in migrations/)."""

from tenant_api.models.access_token import AccessToken
from tenant_api.models.base import Base
from tenant_api.models.customer import Customer, CustomerStatus
from tenant_api.models.plan import Plan
from tenant_api.models.usage_event import UsageEvent, UsageOutcome

__all__ = [
    "AccessToken",
    "Base",
    "Customer",
    "CustomerStatus",
    "Plan",
    "UsageEvent",
    "UsageOutcome",
]
