"""The forms (modals) the bot shows in the sandbox: how one is shown, what to type for each field,
and the answers a typed line `NAME: form A | B | C` gives it."""

from __future__ import annotations

from typing import Any

import discord

from bot.sandbox.lines import LineError, clip


def form_prompt(who: str, modal: dict[str, Any]) -> list[str]:
    """The two lines that show `who` a form: its title and fields, then what to type to fill it."""
    rows = modal.get("components", [])
    labels = [_input_label(row) for row in rows]
    hints = [_input_hint(row) for row in rows]
    return [
        f"[form for {who}] {modal.get('title', '')}: " + " | ".join(labels),
        f"    answer with: {who}: form " + " | ".join(hints),
    ]


def form_answers(rows: list[dict[str, Any]], values: list[str]) -> dict[str, Any]:
    """The answer for each field (by custom_id) from the typed values, in the form's order: a text
    field takes its value (a missing one is left out), a menu one of its choices. Raises LineError."""
    if len(values) > len(rows):
        labels = [_input_label(row) for row in rows]
        raise LineError(
            f"the form has {len(rows)} field{'s' if len(rows) != 1 else ''} ({' | '.join(labels)}); "
            f"separate the answers with |"
        )
    answers: dict[str, Any] = {}
    for index, row in enumerate(rows):
        if _input_of(row).get("type") == discord.ComponentType.string_select.value:
            answers[_input_id(row)] = _pick(row, values[index] if index < len(values) else "")
        elif index < len(values):
            answers[_input_id(row)] = values[index]
    return answers


def _input_of(row: dict[str, Any]) -> dict[str, Any]:
    """A modal row (action row or label) holds one text input."""
    if "component" in row:
        return dict(row["component"])
    return dict(row.get("components", [{}])[0])


def _input_id(row: dict[str, Any]) -> str:
    return str(_input_of(row).get("custom_id", ""))


def _input_label(row: dict[str, Any]) -> str:
    return str(row.get("label") or _input_of(row).get("label", "?"))


def _options(row: dict[str, Any]) -> list[dict[str, Any]]:
    return list(_input_of(row).get("options") or [])


def _input_hint(row: dict[str, Any]) -> str:
    """What to type for one field: a menu's pre-selected choice or its choices (`1/2/3/4/5`), else `…`."""
    if _input_of(row).get("type") != discord.ComponentType.string_select.value:
        return "…"
    options = _options(row)
    picked = [str(o["value"]) for o in options if o.get("default")]
    return ",".join(picked) or "/".join(str(o["value"]) for o in options)


def _pick(row: dict[str, Any], answer: str) -> list[str]:
    """A menu's choice from the typed answer: an option's value or label (`4` or `4 — clear`); an empty
    answer keeps what the menu shows pre-selected, as Discord does. Raises LineError."""
    options, label = _options(row), _input_label(row)
    values = [str(o["value"]) for o in options]
    choices = ", ".join(values[:-1]) + f" or {values[-1]}" if len(values) > 1 else "".join(values)
    if not answer:
        picked = [str(o["value"]) for o in options if o.get("default")]
        if picked:
            return picked
        raise LineError(f"{label} needs a choice: pick {choices}")
    for option in options:
        if answer.casefold() in (str(option["value"]).casefold(), str(option.get("label", "")).casefold()):
            return [str(option["value"])]
    raise LineError(f"`{clip(answer, 20)}` is not a choice for {label}: pick {choices}")
