from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints

from tenant_api.schemas import InputModel, OutputModel


class WebhookEventType(StrEnum):
    USAGE_THRESHOLD_REACHED = "usage.threshold_reached"
    CUSTOMER_HEAVY_USER = "customer.heavy_user"
    CUSTOMER_BURST_USED = "customer.burst_used"


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError("the URL must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("the URL must name a host")
    if parts.username or parts.password:
        raise ValueError("the URL must not carry credentials")
    try:
        _ = parts.port
    except ValueError as exc:
        raise ValueError("the URL's port is invalid") from exc
    return value


WebhookUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=8, max_length=2048),
    AfterValidator(_http_url),
]


def _unique(events: list[WebhookEventType]) -> list[WebhookEventType]:
    return list(dict.fromkeys(events))


class WebhookEndpointCreate(InputModel):
    url: WebhookUrl
    events: Annotated[
        list[WebhookEventType], Field(min_length=1, max_length=10), AfterValidator(_unique)
    ]


class WebhookEndpointRead(OutputModel):
    id: str
    url: str
    events: list[WebhookEventType]
    secret_last4: str
    created_at: datetime


class WebhookEndpointCreated(WebhookEndpointRead):
    """The only response that carries the secret: store it, it is not shown again."""

    secret: str


class WebhookEndpointList(OutputModel):
    data: list[WebhookEndpointRead]
