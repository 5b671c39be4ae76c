"""The customer-facing copilot routes."""
