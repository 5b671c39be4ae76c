"""Drive schemathesis cases against an in-process ASGI app (A4).

The app, its database engine and its fakes live on pytest's event loop; hypothesis is
synchronous, so it runs in a worker thread and hands every request back to that loop. Each
generated case is sent with one of the service's tokens (or none, or a wrong one), then checked
with schemathesis's checks plus the service's own error envelope.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

not_a_server_error: CheckFunction = schemathesis.checks.not_a_server_error

CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

EnvelopeCheck = Callable[[httpx.Response], None]
Operation = schemathesis.APIOperation[Any, Any, Any, Any]
Case = schemathesis.Case[Any]


def project_envelope(response: httpx.Response) -> None:
    """tenant-api / copilot-gateway: ``{"error": {"type", "code", "message", ...}}``."""
    if response.status_code < 400:
        return
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict), body
    for key in ("type", "code", "message"):
        assert isinstance(error.get(key), str), (key, body)
        assert error[key], (key, body)


def saturn_envelope(response: httpx.Response) -> None:
    """saturn-local: Saturn's own ``{"error": {"code", "message", "details"?}}``."""
    if response.status_code < 400:
        return
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict), body
    assert set(error) <= {"code", "message", "details"}, body
    assert isinstance(error.get("code"), str), body
    assert error["code"], body
    assert isinstance(error.get("message"), str), body
    assert error["message"], body


def load_operations(spec: dict[str, Any]) -> dict[str, Operation]:
    """``{"GET /v1/x": operation}`` for every operation of an OpenAPI document."""
    schema = schemathesis.openapi.from_dict(spec)
    operations: dict[str, Operation] = {}
    for result in schema.get_all_operations():
        # An operation schemathesis cannot read would otherwise go untested without a word.
        assert isinstance(result, Ok), result
        operations[result.ok().label] = result.ok()
    return operations


@dataclass
class Target:
    """Where and how to send cases: the ASGI client, tokens by name, and known ids."""

    http: httpx.AsyncClient
    loop: asyncio.AbstractEventLoop
    # auth choice -> headers; "valid" should dominate so the generator reaches handlers.
    auth: Mapping[str, Mapping[str, str]]
    envelope: EnvelopeCheck
    # path parameter name -> real ids to substitute sometimes, so handlers find rows.
    known_ids: Mapping[str, Sequence[str]] = field(default_factory=dict)
    # top-level body field -> values the handler knows (a plan tier, say).
    known_body: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    seen: list[int] = field(default_factory=list)

    async def send(self, kwargs: dict[str, Any]) -> httpx.Response:
        body: dict[str, Any] = {}
        if "json" in kwargs:
            body["json"] = kwargs["json"]
        elif isinstance(kwargs.get("data"), bytes | str):
            body["content"] = kwargs["data"]
        elif kwargs.get("data") is not None:
            body["data"] = kwargs["data"]
        if kwargs.get("files"):
            body["files"] = kwargs["files"]
        return await self.http.request(
            kwargs["method"],
            kwargs["url"],
            params=kwargs.get("params"),
            headers=kwargs.get("headers"),
            **body,
        )


def _use_known_values(
    case: Case, target: Target, id_names: Sequence[str], data: st.DataObject
) -> None:
    # Mostly known values: hypothesis leans to False for booleans, so draw from a wider range.
    if case.path_parameters and id_names and data.draw(st.integers(0, 3), label="known id"):
        for name in id_names:
            case.path_parameters[name] = data.draw(st.sampled_from(list(target.known_ids[name])))
    if isinstance(case.body, dict):
        for name, values in target.known_body.items():
            if name in case.body and data.draw(st.integers(0, 3), label=f"known {name}"):
                case.body[name] = data.draw(st.sampled_from(list(values)))


def fuzz(
    operation: Operation,
    target: Target,
    *,
    max_examples: int,
    auth_weights: Sequence[str] = ("valid", "valid", "valid", "none", "wrong"),
) -> None:
    """Run ``max_examples`` positive and negative cases of ``operation``; raise on the first
    (shrunk) failure. Call from a worker thread, never from the loop itself."""
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    path_names = {parameter.name for parameter in operation.path_parameters}
    id_names = [name for name in target.known_ids if name in path_names]

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(case=cases, auth=st.sampled_from(list(auth_weights)), data=st.data())
    def run(case: Case, auth: str, data: st.DataObject) -> None:
        negative = case.meta is not None and case.meta.generation.mode is GenerationMode.NEGATIVE
        # Real ids and values only in positive cases: swapped into a negative one they could
        # replace the very value that made it invalid.
        if not negative:
            _use_known_values(case, target, id_names, data)
        headers = dict(target.auth[auth])
        kwargs = case.as_transport_kwargs(base_url=str(target.http.base_url), headers=headers)
        if auth == "none":
            kwargs["headers"].pop("Authorization", None)
        future = asyncio.run_coroutine_threadsafe(target.send(kwargs), target.loop)
        response = future.result(timeout=60)
        target.seen.append(response.status_code)
        checks = list(CHECKS)
        if negative and auth == "valid":
            checks.append(negative_data_rejection)
        case.validate_response(response, checks=checks)
        target.envelope(response)

    run()


async def run_fuzz(
    operation: Operation,
    target: Target,
    max_examples: int,
    auth_weights: Sequence[str] = ("valid", "valid", "valid", "none", "wrong"),
) -> None:
    """:func:`fuzz` in a worker thread while this loop serves the app."""
    await asyncio.to_thread(
        fuzz, operation, target, max_examples=max_examples, auth_weights=auth_weights
    )
    if os.environ.get("CONTRACT_VERBOSE"):
        print(f"\n{operation.label}: {sorted(Counter(target.seen).items())}")
