"""Notifications that are never lost: the outbox (rows), the sources that plan them, the dispatcher."""
