"""What the lifespan builds once and every request uses."""

from __future__ import annotations

from dataclasses import dataclass

from copilot_gateway.auth import TokenVerifier
from copilot_gateway.clients.tenant_api import TenantApiClient
from copilot_gateway.copilot.burst import BurstAllowance
from copilot_gateway.copilot.service import CopilotService
from copilot_gateway.copilot.spend import SpendTracker
from copilot_gateway.resolution.service import AgentResolver
from copilot_gateway.usage.recorder import UsageRecorder
from copilot_kit.saturn.client import SaturnClient


@dataclass(slots=True)
class GatewayState:
    verifier: TokenVerifier
    saturn: SaturnClient
    tenant_api: TenantApiClient
    resolver: AgentResolver
    recorder: UsageRecorder
    spend: SpendTracker
    burst: BurstAllowance
    copilot: CopilotService
    max_body_bytes: int
