"""Reading an uploaded CSV for an import (the papers, the roster): the one preamble every import
runs before it looks at a header — empty, too large, not UTF-8 (a byte-order mark is fine, as Excel
writes one), not readable as CSV — each refused with a "line N: reason" the staff can act on.
Lines may end in LF, CRLF or a lone CR (old Mac exports). The counterpart of `csv_out`.
"""

from __future__ import annotations

import csv
import io


def read_csv(
    data: bytes, *, max_bytes: int, not_utf8_hint: str = "", text_only: bool = False
) -> tuple[list[list[str]], list[str]]:
    """The records of `data` and no errors, or no records and the one error that makes the file
    unusable. `not_utf8_hint` is added to the encoding refusal (e.g. how to save the file);
    `text_only` also refuses a file with a NUL character (a spreadsheet saved in a binary format).
    Raises nothing."""
    if not data.strip():
        return [], ["line 1: the file is empty"]
    if len(data) > max_bytes:
        return [], [f"line 1: the file is larger than {max_bytes // 1000} kB"]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [f"line 1: the file is not UTF-8 text{f' ({not_utf8_hint})' if not_utf8_hint else ''}"]
    if text_only and "\x00" in text:
        return [], ["line 1: the file is not a text CSV"]
    reader = csv.reader(io.StringIO(text, newline=""))  # newline="": also CR-only line ends
    try:
        return list(reader), []
    except csv.Error as error:  # e.g. a field over the csv module's size limit
        return [], [f"line {reader.line_num}: not a readable CSV file ({error})"]
