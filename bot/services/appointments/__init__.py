"""Office hours "by appointment": a student asks for a time, the staff accept, decline or propose
another time, the student answers a proposal, and either side cancels. The student is told every
decision by DM, the staff member who accepted is told what the student does, and an accepted
appointment is reminded to both (`[appointments] remind`, default 1 h before) — all through the
outbox, in the transaction of the change. Every change is audited. One module per job:

- `core`: the names and results, checking a time and the text people type, the overlap, the answer
  to a second decision, the reminder rows and the request's post in ta-log;
- `requests`: the student's side (asking, answering a proposal, their own list);
- `decisions`: the staff's side (accepting, declining, proposing, the overview) and cancelling;
- `slots`: the free slots of `[appointments] hours`;
- `counts`: requests made and accepted per student.

Rules: an appointment is `[appointments] length_minutes` long, in the future and inside the term;
it never overlaps another pending, proposed or accepted one of the same student; a student has at
most `max_pending` waiting for an answer (pending or proposed). A decision is made once: whoever
comes second is told who decided, and when. Every change runs in one `db.write(APPOINTMENTS_LOCK)`
transaction.
"""

from bot.services.appointments.core import (
    APPOINTMENTS_LOCK,
    NOTE_MAX,
    OPEN,
    REMINDER_KIND,
    REQUEST_KIND,
    REQUEST_PREFIX,
    TOPIC_MAX,
    WAITING,
    AppointmentInfo,
    check_start,
    register_kinds,
    reminder_plans,
    request_id_of,
    request_line,
)
from bot.services.appointments.counts import AppointmentCounts, appointment_counts, counts_of
from bot.services.appointments.decisions import (
    cancel,
    decide,
    get_appointment,
    pending_request,
    propose,
    set_staff_message,
    staff_overview,
)
from bot.services.appointments.requests import answer_proposal, my_appointments, request_appointment
from bot.services.appointments.slots import SLOTS_SHOWN, free_slots, slot_value

__all__ = [
    "APPOINTMENTS_LOCK",
    "NOTE_MAX",
    "OPEN",
    "REMINDER_KIND",
    "REQUEST_KIND",
    "REQUEST_PREFIX",
    "SLOTS_SHOWN",
    "TOPIC_MAX",
    "WAITING",
    "AppointmentCounts",
    "AppointmentInfo",
    "answer_proposal",
    "appointment_counts",
    "cancel",
    "check_start",
    "counts_of",
    "decide",
    "free_slots",
    "get_appointment",
    "my_appointments",
    "pending_request",
    "propose",
    "register_kinds",
    "reminder_plans",
    "request_appointment",
    "request_id_of",
    "request_line",
    "set_staff_message",
    "slot_value",
    "staff_overview",
]
