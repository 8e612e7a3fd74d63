"""Delivery: the outbox worker and its transports."""
