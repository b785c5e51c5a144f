"""The Discord side of the group invitation's outbox row (bot/services/groups/invites.py): the DM to
the invitee with the Accept/Decline buttons, sent with the row's nonce (a retry after a crash shows
once). An invitation answered, withdrawn or expired before it could be sent is skipped, not sent.

When Discord refuses the DM (DMs closed), the invitation is withdrawn, and the inviter is told by DM
(planned in the same transaction) to share the group's invite code instead; the row is skipped with
that reason.
"""

from __future__ import annotations

from bot.app import CourseBot
from bot.notify.kinds import Undeliverable
from bot.notify.outbox import Claimed
from bot.services import groups
from cogs.groups._views import invite_view

REFUSED = "their DMs are closed"


class InviteDelivery:
    """The delivery the groups cog attaches to the invitation's kind."""

    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    def attach(self) -> None:
        self.bot.dispatcher.kinds.attach_delivery(groups.INVITE_KIND, self.deliver)

    async def deliver(self, row: Claimed) -> str | None:
        """DM the invitation with its buttons. Raises Undeliverable (no longer open, or refused:
        then withdrawn) or discord's errors (retried)."""
        services = self.bot.services
        invitation = await groups.invite_to_deliver(services, groups.invite_id_of(row.source_key))
        if invitation is None:
            raise Undeliverable("the invitation or its group is gone")
        if invitation.status != "pending":
            raise Undeliverable(f"the invitation was {invitation.status} before it could be delivered")
        if invitation.expires_at <= services.now():
            raise Undeliverable("the invitation expired before it could be delivered")
        view = invite_view(invitation.id)
        if await self.bot.send_dm(invitation.invitee_id, row.text, view=view, nonce=row.nonce):
            return None
        if await groups.withdraw_invite(services, invite_id=invitation.id, reason=REFUSED):
            raise Undeliverable(f"{REFUSED}: the invitation is withdrawn and the inviter told")
        raise Undeliverable(f"{REFUSED}, and the invitation was answered meanwhile")
