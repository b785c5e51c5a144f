"""Paper sign-ups: the paper list, presenter slots with capacity, waitlists, swaps. One module per
job: `core` (results, reading the board, the row helpers), `signups`, `swaps`, `staff` and
`imports`; each paper's talk slot comes from `bot/services/talks.py`.

Rules (under any concurrency): a paper never has more presenters than `papers.capacity`; a student
holds at most `papers.max_per_student` papers and waits on at most one waitlist; waitlists are first
come, first served. Every change runs in one `db.write()` transaction that locks the student row(s)
and then the paper row (the same order everywhere, so PostgreSQL cannot deadlock), and is audited.
Whoever a change must be told (a promotion from the waitlist, a swap's answer, the staff's assign,
unassign or removal) gets a DM planned in the outbox in the same transaction; so does the addressee
of a swap offer (a `swap_offer` row, whose delivery in the papers cog adds the buttons).
"""

from bot.services.papers.core import (
    PAPERS_LOCK,
    SIGNUP_OVERRIDE,
    PaperInfo,
    Promotion,
    SignupResult,
    SignupStatus,
    SwapInfo,
    Window,
    WithdrawResult,
    board,
    check_number,
    paper,
    signup_window,
    status,
    talk_text,
    write,
)
from bot.services.papers.imports import (
    MAX_IMPORT_BYTES,
    PAPER_COLUMNS,
    ImportResult,
    import_papers,
    parse_papers_csv,
)
from bot.services.papers.signups import sign_up, withdraw
from bot.services.papers.staff import (
    AUTHORS_MAX,
    TITLE_MAX,
    URL_MAX,
    PaperFields,
    assign,
    clean_paper,
    remove_paper,
    save_paper,
    set_signup_override,
    unassign,
)
from bot.services.papers.swaps import (
    OFFER_KIND,
    SWAP_HOURS,
    answer_swap,
    offer_id_of,
    offer_swap,
    offer_to_deliver,
    register_kinds,
)

__all__ = [
    "AUTHORS_MAX",
    "MAX_IMPORT_BYTES",
    "OFFER_KIND",
    "PAPERS_LOCK",
    "PAPER_COLUMNS",
    "SIGNUP_OVERRIDE",
    "SWAP_HOURS",
    "TITLE_MAX",
    "URL_MAX",
    "ImportResult",
    "PaperFields",
    "PaperInfo",
    "Promotion",
    "SignupResult",
    "SignupStatus",
    "SwapInfo",
    "Window",
    "WithdrawResult",
    "answer_swap",
    "assign",
    "board",
    "check_number",
    "clean_paper",
    "import_papers",
    "offer_id_of",
    "offer_swap",
    "offer_to_deliver",
    "paper",
    "parse_papers_csv",
    "register_kinds",
    "remove_paper",
    "save_paper",
    "set_signup_override",
    "sign_up",
    "signup_window",
    "status",
    "talk_text",
    "unassign",
    "withdraw",
    "write",
]
