"""Per-request outcomes, sent to tenant-api in batches off the response path."""
