"""The ``saas-copilot`` operator CLI: bring the stack up and down, rotate keys, reports."""
