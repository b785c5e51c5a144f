"""The one CSV writer: every CSV the bot hands out (gradebook, attendance report, reviews) is written
here, as UTF-8 with a byte-order mark and CRLF line ends, with formula injection neutralised.

The rule for a cell:
- a Python `int` or `float` is written as the number it is (`-3` stays `-3`);
- `None` is an empty cell;
- text starting with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with a single quote
  (OWASP's advice), so a spreadsheet shows it as text instead of running it (`=HYPERLINK(...)`,
  `=cmd|' /C calc'!A0`, `@SUM(1+1)`) — unless the whole text is a plain number: an optional sign,
  ASCII digits and at most one decimal point (`-1.5`, `+82`, `-3`), which a spreadsheet reads as
  that number and can never run;
- any other text is written as it is.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Sequence

Cell = str | int | float | None

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)


def neutralise(value: Cell) -> str | int | float:
    """The cell as it is written (see the module's rule). Raises nothing."""
    if value is None:
        return ""
    if isinstance(value, bool):  # an int to Python, but text to a reader
        return str(value)
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    text = str(value)  # a str, or a float that is not finite ("-inf" is text to a spreadsheet)
    if text.startswith(TRIGGERS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    """The CSV of `header` and `rows` (a row may be empty, e.g. between two tables of one file), every
    cell through `neutralise`, UTF-8 with a byte-order mark so spreadsheets read Korean names right,
    CRLF line ends. Raises nothing."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(cell) for cell in header])
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
    return buffer.getvalue().encode("utf-8-sig")
