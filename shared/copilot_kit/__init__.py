"""Domain-free kit shared by every SaaS Copilot service.

Nothing in here knows about customers, plans or copilots: it holds the Saturn client,
money helpers, envelope encryption, signed tokens, the error envelope, database and HTTP
helpers. It never imports a service.
"""
