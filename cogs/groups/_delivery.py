"""The Discord side of the group invitation's outbox row (bot/services/groups/invites.py): the
Accept/Decline buttons of the DM to the invitee, built when the dispatcher sends it. An invitation
answered, withdrawn or expired before it could be sent is skipped, not sent.

When Discord refuses the DM (DMs closed), the invitation is withdrawn, and the inviter is told by DM
(planned in the same transaction) to share the group's invite code instead; the row is skipped with
that reason.
"""

from __future__ import annotations

import discord

from bot.app import CourseBot
from bot.notify.kinds import Undeliverable
from bot.notify.outbox import Claimed
from bot.services import groups
from cogs.groups._views import invite_view

REFUSED = "their DMs are closed"


class InviteDelivery:
    """The buttons the groups cog attaches to the invitation's kind, and what a refused DM does."""

    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    def attach(self) -> None:
        self.bot.dispatcher.kinds.attach_buttons(groups.INVITE_KIND, self.buttons, refused=self.withdraw)

    async def buttons(self, row: Claimed) -> discord.ui.View:
        """Accept and Decline for the invitation as it is now. Raises Undeliverable when it is no
        longer open."""
        services = self.bot.services
        invitation = await groups.invite_to_deliver(services, groups.invite_id_of(row.source_key))
        if invitation is None:
            raise Undeliverable("the invitation or its group is gone")
        if invitation.status != "pending":
            raise Undeliverable(f"the invitation was {invitation.status} before it could be delivered")
        if invitation.expires_at <= services.now():
            raise Undeliverable("the invitation expired before it could be delivered")
        return invite_view(invitation.id)

    async def withdraw(self, row: Claimed) -> None:
        """The DM was refused: withdraw the invitation (the inviter is told). Raises Undeliverable."""
        invite_id = groups.invite_id_of(row.source_key)
        if await groups.withdraw_invite(self.bot.services, invite_id=invite_id, reason=REFUSED):
            raise Undeliverable(f"{REFUSED}: the invitation is withdrawn and the inviter told")
        raise Undeliverable(f"{REFUSED}, and the invitation was answered meanwhile")
