"""Discord's permission bits (https://discord.com/developers/docs/topics/permissions): the ones the
planner reads or asks for, their names as Server Settings shows them, and what the bot needs in every
channel it posts in."""

from __future__ import annotations

ADD_REACTIONS = 1 << 6
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
MANAGE_ROLES = 1 << 28
MANAGE_EVENTS = 1 << 33
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 53) - 1

PERMISSION_NAMES = {
    ADMINISTRATOR: "Administrator",
    MANAGE_CHANNELS: "Manage Channels",
    MANAGE_GUILD: "Manage Server",
    ADD_REACTIONS: "Add Reactions",
    VIEW_CHANNEL: "View Channel",
    SEND_MESSAGES: "Send Messages",
    EMBED_LINKS: "Embed Links",
    ATTACH_FILES: "Attach Files",
    READ_MESSAGE_HISTORY: "Read Message History",
    MENTION_EVERYONE: "Mention Everyone",
    MANAGE_ROLES: "Manage Roles",
    MANAGE_EVENTS: "Manage Events",
    CREATE_PUBLIC_THREADS: "Create Public Threads",
    SEND_MESSAGES_IN_THREADS: "Send Messages in Threads",
}

BOT_POSTS = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES  # what the bot needs where it posts
ALWAYS_NEEDED = BOT_POSTS | READ_MESSAGE_HISTORY


def permission_names(bits: int) -> str:
    """'View Channel, Send Messages' for a set of permission bits (lowest bit first)."""
    names = []
    for bit in range(64):
        if bits & (1 << bit):
            names.append(PERMISSION_NAMES.get(1 << bit, f"permission 1<<{bit}"))
    return ", ".join(names)


def has(perms: int, bits: int) -> bool:
    """Whether `perms` holds every bit of `bits`."""
    return perms & bits == bits


def bits_of(value: int) -> list[int]:
    """The single bits set in `value`, lowest first."""
    return [1 << bit for bit in range(64) if value & (1 << bit)]
