"""Typed clients for the remotes the gateway calls (tenant-api; Saturn lives in copilot_kit)."""
