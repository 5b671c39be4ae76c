"""Customer → agent credentials, cached in memory for a few seconds."""
