"""Turn pydantic's validation errors into ``ConfigIssue`` records with lines and suggestions."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from edge.config.issues import ConfigIssue, PathPart, did_you_mean
from edge.config.yaml_lines import LineMap

_QUOTED = re.compile(r"'([^']*)'")


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types an annotation may hold (Optional/Union/Annotated flattened)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_unwrap(arg))
        return out
    return [annotation]


def _model_at(root: type[BaseModel], loc: Sequence[PathPart], data: Any) -> type[BaseModel] | None:
    """The model class that validates the mapping found at ``loc`` (best effort, for suggestions)."""
    candidates: list[Any] = [root]
    node = data
    for part in loc:
        nxt: list[Any] = []
        for cand in candidates:
            origin = typing.get_origin(cand)
            if isinstance(cand, type) and issubclass(cand, BaseModel) and isinstance(part, str):
                field = cand.model_fields.get(part)
                if field is None:
                    for f in cand.model_fields.values():
                        if f.alias == part:
                            field = f
                if field is not None:
                    nxt.extend(_unwrap(field.annotation))
            elif origin in (list, tuple) and isinstance(part, int):
                nxt.extend(_unwrap(typing.get_args(cand)[0]))
            elif origin is dict and isinstance(part, str):
                nxt.extend(_unwrap(typing.get_args(cand)[1]))
        node = (
            node.get(part)
            if isinstance(node, Mapping)
            else (node[part] if isinstance(node, list) and isinstance(part, int) and part < len(node) else None)
        )
        # Discriminated unions: keep the member whose literal 'type' matches the data.
        if isinstance(node, Mapping) and "type" in node:
            typed = [
                c
                for c in nxt
                if isinstance(c, type)
                and issubclass(c, BaseModel)
                and "type" in c.model_fields
                and node["type"] in typing.get_args(c.model_fields["type"].annotation)
            ]
            nxt = typed or nxt
        candidates = nxt
    for cand in candidates:
        if isinstance(cand, type) and issubclass(cand, BaseModel):
            return cand
    return None


def _data_path(loc: Sequence[Any], data: Any) -> tuple[PathPart, ...]:
    """pydantic's loc without the union-member tags it inserts (e.g. 'rtu' in buses.0.rtu.baudrate)."""
    path: list[PathPart] = []
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, Mapping):
            if part in node or last:
                path.append(part)
                node = node.get(part)
                continue
            if isinstance(part, str) and node.get("type") == part:
                continue  # discriminator tag
            if isinstance(part, str) and ("[" in part or "function" in part):
                continue
            path.append(part)
            node = None
        elif isinstance(node, list) and isinstance(part, int):
            path.append(part)
            node = node[part] if part < len(node) else None
        elif isinstance(part, str) and ("[" in part or "function" in part):
            continue
        else:
            path.append(part)
            node = None
    return tuple(path)


def _value_at(path: Sequence[PathPart], data: Any) -> tuple[bool, object]:
    node = data
    for part in path:
        in_mapping = isinstance(node, Mapping) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if in_mapping or in_list:
            node = node[part]
        else:
            return False, None
    return True, node


def issues_from_validation_error(
    exc: ValidationError, root: type[BaseModel], data: Any, lines: LineMap
) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for err in exc.errors(include_url=False):
        path = _data_path(err["loc"], data)
        has_value, value = _value_at(path, data)
        kind = err["type"]
        message = err["msg"].removeprefix("Value error, ")
        allowed = ""
        suggestion: str | None = None
        if kind == "extra_forbidden" and path:
            model = _model_at(root, path[:-1], data)
            names = sorted((f.alias or n) for n, f in model.model_fields.items()) if model else []
            message = "unknown key"
            allowed = ", ".join(names)
            suggestion = did_you_mean(str(path[-1]), names)
            has_value = False
        elif kind == "missing":
            message = "required key is missing"
            has_value = False
        elif kind in ("literal_error", "enum") and "expected" in err.get("ctx", {}):
            expected = _QUOTED.findall(str(err["ctx"]["expected"])) or [str(err["ctx"]["expected"])]
            message = "value not allowed"
            allowed = ", ".join(expected)
            suggestion = did_you_mean(str(value), expected)
        elif kind == "union_tag_invalid":
            expected = _QUOTED.findall(str(err.get("ctx", {}).get("expected_tags", "")))
            message = "unknown 'type'"
            allowed = ", ".join(expected)
            path = (*path, "type")
            has_value, value = _value_at(path, data)
            suggestion = did_you_mean(str(value), expected)
        elif kind == "string_pattern_mismatch":
            model = _model_at(root, path[:-1], data)
            field = model.model_fields.get(str(path[-1])) if model and path else None
            message = "not a valid identifier"
            allowed = (field.description if field else None) or str(err.get("ctx", {}).get("pattern", ""))
        issues.append(
            ConfigIssue(
                file=lines.file,
                line=lines.line_of(path),
                path=path,
                message=message,
                value=value,
                has_value=has_value,
                allowed=allowed,
                suggestion=suggestion,
            )
        )
    return issues
