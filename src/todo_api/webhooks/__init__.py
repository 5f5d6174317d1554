"""Webhooks: where users are told of changes, signed, retried and logged."""
