"""The gradebook as the files two LMSs import as they are, both written by the one CSV writer
(`csv_out`: UTF-8 with a byte-order mark, CRLF, formulas neutralised).

Canvas, "Import grades in the Gradebook": the header is Student, ID, SIS User ID, SIS Login ID,
Section, then one column per item; the second row starts with "Points Possible" and gives each
item's points. Canvas finds the student by ID (its own user id, which the bot does not know: empty),
then SIS User ID (the student id), then SIS Login ID (the roster's email), then the name. A column
whose points cell says "(read only)" is shown and not imported, as Canvas does with the computed
columns of its own export: the counts and the F flag travel that way. An empty cell is no grade.
Canvas writes the byte-order mark in its own exports and reads it back.

Moodle, Grades > Import > "CSV file": a header row, then one row per student; one column identifies
the user (mapped on the import page to "Email address" or "ID number"), every other column is mapped to
a grade item, a new grade item, feedback, or ignored. `-` is no grade. Moodle strips the byte-order
mark. It carries the previous row's user over to a row whose identifier is empty and abandons the whole
import at an identifier it does not know, so a student without one is left out of the file and
reported to the staff instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from bot.services.csv_out import Cell, csv_bytes

CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS_ROW = "    Points Possible"  # as Canvas's own export writes it; the import looks for the words
CANVAS_READ_ONLY = "(read only)"
MOODLE_EMAIL = "Email address"
MOODLE_ID_NUMBER = "ID number"
# Moodle trims every cell before reading it, so " -" is its "no grade"; the space keeps the one CSV
# writer from quoting a lone "-" as a would-be formula (a quoted "'-" would be a bad grade to Moodle).
MOODLE_NO_GRADE = " -"

Row = Mapping[str, str]


@dataclass(frozen=True)
class Item:
    """A gradebook column an LMS imports: a score out of `points`, a count, or a yes/no flag."""

    column: str
    title: str
    kind: Literal["score", "count", "flag"]
    points: int = 0  # points possible, for a score

    @property
    def header(self) -> str:
        """The column's name in an LMS file: a score carries its points ("Attendance (10 pts)"; not
        "(10)", which Canvas would read as an assignment id)."""
        return f"{self.title} ({self.points} pts)" if self.kind == "score" else self.title


@dataclass(frozen=True)
class LmsFile:
    data: bytes
    written: int  # students in the file
    left_out: tuple[str, ...]  # "20250009 이서연 (no email on the roster)", in gradebook order
    key: str = ""  # the identifying column (Moodle)


def who(row: Row) -> str:
    """A row as the staff recognise it: student id and name, or the Discord name."""
    known = " ".join(part for part in (row.get("student_id", ""), row.get("name", "")) if part)
    return known or f"@{row.get('discord_name', '')}"


def canvas_csv(rows: Sequence[Row], items: Sequence[Item]) -> LmsFile:
    """Canvas's gradebook import (see the module). A student without a student id cannot be found in
    Canvas and is left out (reported). Raises nothing."""
    points: list[Cell] = [CANVAS_POINTS_ROW, "", "", "", ""]
    points += [f"{item.points:.2f}" if item.kind == "score" else CANVAS_READ_ONLY for item in items]
    body: list[list[Cell]] = [points]
    left_out = []
    for row in rows:
        if not row.get("student_id"):
            left_out.append(f"{who(row)} (no student id: not registered and not on the roster)")
            continue
        identity = [row.get("name", ""), "", row["student_id"], row.get("email", ""), ""]
        body.append([*identity, *(row.get(item.column, "") for item in items)])
    header = [*CANVAS_IDENTITY, *(item.header for item in items)]
    return LmsFile(csv_bytes(header, body), len(body) - 1, tuple(left_out))


def moodle_key(rows: Sequence[Row]) -> str:
    """The identifying column: the email when the roster gives any, else the ID number (student id)."""
    return MOODLE_EMAIL if any(row.get("email") for row in rows) else MOODLE_ID_NUMBER


def moodle_csv(rows: Sequence[Row], items: Sequence[Item]) -> LmsFile:
    """Moodle's grade import CSV (see the module), keyed by `moodle_key`. A student without that
    identifier is left out (reported). Raises nothing."""
    key = moodle_key(rows)
    source, missing = (
        ("email", "no email on the roster")
        if key == MOODLE_EMAIL
        else ("student_id", "no student id: not registered and not on the roster")
    )
    body: list[list[Cell]] = []
    left_out = []
    for row in rows:
        if not row.get(source):
            left_out.append(f"{who(row)} ({missing})")
            continue
        cells: list[Cell] = [row[source]]
        for item in items:
            value = row.get(item.column, "")
            cells.append(value if value or item.kind == "flag" else MOODLE_NO_GRADE)
        body.append(cells)
    header = [key, *(item.header for item in items)]
    return LmsFile(csv_bytes(header, body), len(body), tuple(left_out), key)
