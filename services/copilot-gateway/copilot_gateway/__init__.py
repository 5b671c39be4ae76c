"""copilot-gateway: customer requests to their own Saturn agent, with structured limit answers."""
