"""Webhook endpoints and the durable, signed event outbox."""
