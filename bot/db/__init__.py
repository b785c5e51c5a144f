"""Database layer: engine and sessions, models, column types, the audit helper, migrations."""

from bot.db.audit import audit
from bot.db.engine import Database, create_engine

__all__ = ["Database", "audit", "create_engine"]
