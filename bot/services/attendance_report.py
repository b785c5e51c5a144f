"""The attendance report files: a CSV with a row per student and a PNG chart per held lecture."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date

from bot.services.attendance import STATUSES, StudentRecord
from bot.services.csv_out import Cell, csv_bytes

COLOURS = {"present": "#2e7d32", "late": "#f9a825", "excused": "#1565c0", "absent": "#c62828"}


def report_csv(
    held: Sequence[date], records: Mapping[int, StudentRecord], names: Mapping[int, tuple[str, str, str]]
) -> bytes:
    """A row per student, a column per held lecture (`csv_out`: UTF-8 with a byte-order mark, formulas
    neutralised). `names` maps a discord id to (student id, name, Discord name)."""
    header = [
        "student_id",
        "name",
        "discord",
        "discord_id",
        "held",
        "present",
        "late",
        "excused",
        "absent",
        "absences_left",
    ] + [day.isoformat() for day in held]
    rows: list[list[Cell]] = []
    for discord_id, record in sorted(records.items(), key=lambda item: names.get(item[0], ("", "", ""))[1:]):
        student_id, name, discord_name = names.get(discord_id, ("", "", ""))
        by_day = {lecture.lecture_date: lecture.status for lecture in record.lectures}
        rows.append(
            [
                student_id,
                name,
                discord_name,
                str(discord_id),
                record.held,
                record.present,
                record.late,
                record.excused,
                record.absent,
                record.absences_left,
                *(by_day.get(day, "") for day in held),
            ]
        )
    return csv_bytes(header, rows)


def report_chart(held: Sequence[date], records: Mapping[int, StudentRecord], title: str) -> bytes:
    """A stacked bar per held lecture: present, late, excused, absent. PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    counts = {status: [0] * len(held) for status in STATUSES}
    index = {day: i for i, day in enumerate(held)}
    for record in records.values():
        for lecture in record.lectures:
            if lecture.status in counts and lecture.lecture_date in index:
                counts[lecture.status][index[lecture.lecture_date]] += 1
    figure, axes = pyplot.subplots(figsize=(max(6.0, 0.45 * len(held) + 2), 4), dpi=100)
    labels = [f"{day:%m-%d}" for day in held]
    bottom = [0] * len(held)
    for status in STATUSES:
        axes.bar(labels, counts[status], bottom=bottom, label=status, color=COLOURS[status])
        bottom = [b + c for b, c in zip(bottom, counts[status], strict=True)]
    axes.set_title(title)
    axes.set_ylabel("students")
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes.tick_params(axis="x", labelrotation=60)
    figure.tight_layout()
    output = io.BytesIO()
    figure.savefig(output, format="png")
    pyplot.close(figure)
    return output.getvalue()
