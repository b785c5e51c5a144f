"""Validate request bodies against Discord's own OpenAPI description (``discord-api-spec/openapi.json``).

``request_problems(method, path, body)`` returns the schema violations of one REST request, as short
lines (empty when the body is valid or the operation takes no body). The fake Discord answers a
violation as Discord does (400, code 50035 "Invalid Form Body") and records it, and the end-to-end
tests fail on any recorded violation.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_FILE = Path(__file__).resolve().parent / "discord-api-spec" / "openapi.json"
_ROOT = "urn:discord-api-spec"
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Two widenings, both for what Discord accepts but the description types narrowly:
# Discord takes a snowflake as a JSON integer as well as a string of digits (discord.py sends integers).
_SNOWFLAKE = {
    "anyOf": [
        {"type": "string", "pattern": "^(0|[1-9][0-9]*)$"},
        {"type": "integer", "minimum": 0},
    ]
}


@dataclass(frozen=True)
class _Operation:
    template: str
    pattern: re.Pattern[str]
    literal_segments: int
    methods: dict[str, str]  # HTTP method -> JSON pointer of the request body's schema


def _pointer(*parts: str) -> str:
    return "/" + "/".join(quote(part.replace("~", "~0").replace("/", "~1"), safe="") for part in parts)


_PERMISSION_FIELDS = ("permissions", "allow", "deny", "default_member_permissions")


def _widen_permissions(node: Any) -> None:
    """Discord's API documents permission bit sets as strings of digits and accepts them (discord.py
    sends strings); the description types them as integers, so accept both."""
    if isinstance(node, dict):
        for key, value in (node.get("properties") or {}).items():
            if key in _PERMISSION_FIELDS and isinstance(value, dict) and "integer" in str(value.get("type")):
                node["properties"][key] = {"anyOf": [value, {"type": "string", "pattern": "^[0-9]+$"}]}
        for value in node.values():
            _widen_permissions(value)
    elif isinstance(node, list):
        for value in node:
            _widen_permissions(value)


@cache
def _spec() -> tuple[Registry, tuple[_Operation, ...]]:
    spec = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    spec = copy.deepcopy(spec)
    spec["components"]["schemas"]["SnowflakeType"] = _SNOWFLAKE
    for name, schema in spec["components"]["schemas"].items():
        if "Request" in name:
            _widen_permissions(schema)
    for item in spec["paths"].values():  # request bodies written inline, not as named schemas
        for method, operation in item.items():
            if method.upper() in _METHODS:
                _widen_permissions(operation.get("requestBody"))
    registry = Registry().with_resource(
        _ROOT, Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    operations = []
    for template, item in spec["paths"].items():
        methods = {}
        for method, operation in item.items():
            if method.upper() not in _METHODS:
                continue
            content = (operation.get("requestBody") or {}).get("content") or {}
            if "application/json" in content:
                methods[method.upper()] = _pointer(
                    "paths", template, method, "requestBody", "content", "application/json", "schema"
                )
        segments = template.strip("/").split("/")
        regex = "/".join("[^/]+" if s.startswith("{") else re.escape(s) for s in segments)
        operations.append(
            _Operation(
                template,
                re.compile(f"^/{regex}$"),
                sum(not s.startswith("{") for s in segments),
                methods,
            )
        )
    # Literal segments (`/users/@me/channels`, `/messages/@original`) win over `{param}` ones.
    operations.sort(key=lambda op: -op.literal_segments)
    return registry, tuple(operations)


@cache
def _validator(pointer: str) -> Draft202012Validator:
    registry, _ = _spec()
    return Draft202012Validator({"$ref": f"{_ROOT}#{pointer}"}, registry=registry)


def operation_of(method: str, path: str) -> str | None:
    """The OpenAPI path template a request matches (`/channels/{channel_id}/messages`), or None."""
    _, operations = _spec()
    for op in operations:
        if op.pattern.match(path):
            return op.template
    return None


def request_problems(method: str, path: str, body: Any) -> list[str]:
    """Schema violations of `body` for `method path` (the path after `/api/v10`); [] when valid, when
    the operation takes no JSON body, or when the path is not in the description."""
    if body is None:
        return []
    _, operations = _spec()
    op = next((op for op in operations if op.pattern.match(path)), None)
    if op is None or method.upper() not in op.methods:
        return []
    validator = _validator(op.methods[method.upper()])
    problems = []
    for error in validator.iter_errors(body):
        error = _closest(error)
        where = "/".join(str(p) for p in error.absolute_path) or "(body)"
        problems.append(f"{method.upper()} {op.template}: {where}: {_describe(error)}")
    return problems


def _closest(error: ValidationError) -> ValidationError:
    """Into anyOf/oneOf: the branch's error that got deepest into the body (the branch meant)."""
    while error.context:
        error = max(error.context, key=_depth)
    return error


def _depth(error: ValidationError) -> int:
    return max([len(error.absolute_path), *(_depth(e) for e in error.context or ())])


def _describe(error: ValidationError) -> str:
    """The broken rule without echoing the whole instance (a 3,000-character content stays readable)."""
    rule = f"{error.validator}={error.validator_value!r}" if error.validator != "$ref" else error.message
    instance = repr(error.instance)
    shown = instance if len(instance) <= 60 else f"{instance[:57]}… ({len(instance)} chars)"
    return f"{shown} breaks {rule}"[:400]
