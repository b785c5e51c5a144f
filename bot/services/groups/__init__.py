"""Project groups: create, join by code, invite, leave, titles, locking, staff moves, autofill. One
module per job:

- `core`: the results, name and title rules, reading groups and the lock state, the row helpers;
- `membership`: create, join by code, leave, the project title;
- `invites`: inviting a classmate and answering an invitation;
- `staff`: locking, moving a student, the group's channel and role;
- `autofill`: planning and applying the placement of students without a group.

Rules (under any concurrency): a group never has more than `groups.max_size` members; a student is
in at most one group; names are unique ignoring case; a locked group changes only through staff.
Every change runs in one `db.write(GROUPS_LOCK)` transaction and is audited; whoever it must be
told (the inviter of an answered invitation, a student the staff moved or placed) gets a DM planned in
the outbox in that transaction; so does the invitee of an invitation (a `group_invite` row, whose
delivery in the groups cog adds the buttons).
"""

from bot.services.groups.autofill import (
    AutofillPlan,
    PlannedGroup,
    apply_autofill,
    plan_autofill,
    plan_placement,
)
from bot.services.groups.core import (
    CODE_ALPHABET,
    CODE_LENGTH,
    GROUPS_LOCK,
    LOCK_OVERRIDE,
    NAME_MAX,
    TITLE_MAX,
    Departure,
    GroupInfo,
    InviteInfo,
    LockState,
    all_groups,
    clean_group_name,
    clean_title,
    find_group,
    group_of,
    grouped_students,
    lock_state,
    new_code,
)
from bot.services.groups.invites import (
    INVITE_KIND,
    answer_invite,
    invite,
    invite_id_of,
    invite_to_deliver,
    register_kinds,
    withdraw_invite,
)
from bot.services.groups.membership import create, join, leave, set_title
from bot.services.groups.staff import Move, move, set_discord_ids, set_lock

__all__ = [
    "CODE_ALPHABET",
    "CODE_LENGTH",
    "GROUPS_LOCK",
    "INVITE_KIND",
    "LOCK_OVERRIDE",
    "NAME_MAX",
    "TITLE_MAX",
    "AutofillPlan",
    "Departure",
    "GroupInfo",
    "InviteInfo",
    "LockState",
    "Move",
    "PlannedGroup",
    "all_groups",
    "answer_invite",
    "apply_autofill",
    "clean_group_name",
    "clean_title",
    "create",
    "find_group",
    "group_of",
    "grouped_students",
    "invite",
    "invite_id_of",
    "invite_to_deliver",
    "join",
    "leave",
    "lock_state",
    "move",
    "new_code",
    "plan_autofill",
    "plan_placement",
    "register_kinds",
    "set_discord_ids",
    "set_lock",
    "set_title",
    "withdraw_invite",
]
