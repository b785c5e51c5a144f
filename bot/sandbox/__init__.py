"""`coursebot sandbox`: the real bot (same cogs, services and database code) against simcord's
in-process Discord, on a simulated course server. No token, no network.

Type lines such as `alice: /register student_id:20251234 name:Alice Kim` or `ta: /ta student
member:alice`; `alice: click Accept` presses a button on the last message alice got. Lines starting
with `!` talk to the sandbox itself (`!help`); `!advance 1d` moves the clock through everything due.

- `world`: the simulated server and its lines; `timeline`: its clock steps; `forms`: filling forms
- `scheduler`: the bot's scheduled jobs on the sandbox clock
- `lines`: reading what a person types; `render`: showing what the bot sends
- `demo`: the demo course; `console`: start-up, scripts and the prompt
"""

from bot.sandbox.console import default_start, open_sandbox, run_sandbox
from bot.sandbox.world import PEOPLE, SANDBOX_GUILD_ID, Sandbox

__all__ = ("PEOPLE", "SANDBOX_GUILD_ID", "Sandbox", "default_start", "open_sandbox", "run_sandbox")
