"""Runtime settings the staff change (sign-up override, group lock override): one row per key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.tables import Setting


async def get_setting(session: AsyncSession, key: str) -> str | None:
    setting = await session.get(Setting, key)
    return setting.value if setting is not None else None


async def put_setting(session: AsyncSession, key: str, value: str, *, at: datetime, by: int | None) -> None:
    """Insert or update `key` inside the caller's transaction."""
    setting = await session.get(Setting, key, with_for_update=True)
    if setting is None:
        session.add(Setting(key=key, value=value, updated_at=at, updated_by=by))
    else:
        setting.value, setting.updated_at, setting.updated_by = value, at, by
