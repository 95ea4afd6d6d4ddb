"""YAML loading that remembers the line of every key and value, so errors can point at them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edge.config.issues import ConfigError, ConfigIssue, PathPart


@dataclass
class LineMap:
    """Line (1-based) of each node, by its path from the document root."""

    file: str
    lines: dict[tuple[PathPart, ...], int] = field(default_factory=dict)

    def line_of(self, path: tuple[PathPart, ...]) -> int | None:
        # A missing field has no line of its own: point at the closest existing parent.
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


class _NodeError(Exception):
    """A node that cannot become configuration data (bad tag, bad merge, recursive alias, ...)."""

    def __init__(self, node: yaml.Node, path: tuple[PathPart, ...], message: str) -> None:
        super().__init__(message)
        self.line = node.start_mark.line + 1
        self.path = path
        self.message = message


def _scalar(constructor: yaml.SafeLoader, node: yaml.Node, path: tuple[PathPart, ...]) -> Any:
    # Explicit tags ('!!int abc', '!!binary xx', '!foo') fail inside PyYAML with ConstructorError,
    # ValueError or TypeError; a config file must get a line-numbered error instead of a traceback.
    try:
        return constructor.construct_object(node, deep=True)
    except yaml.MarkedYAMLError as exc:
        raise _NodeError(node, path, f"YAML: {exc.problem}") from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise _NodeError(node, path, f"YAML: cannot read {node.tag!r} value: {exc}") from None


def _construct(
    constructor: yaml.SafeLoader,
    node: yaml.Node,
    *,
    path: tuple[PathPart, ...],
    lines: dict[tuple[PathPart, ...], int],
    issues: list[ConfigIssue],
    file: str,
    active: frozenset[int] = frozenset(),
) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if id(node) in active:
        # An alias inside its own anchor ('&a [*a]') would recurse forever.
        raise _NodeError(node, path, "YAML: an alias refers to the node that contains it")
    active = active | {id(node)}
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        explicit = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
        try:
            constructor.flatten_mapping(node)  # resolves YAML merge keys ('<<: *anchor') into leading entries
        except yaml.MarkedYAMLError as exc:
            raise _NodeError(node, path, f"YAML: {exc.problem}") from None
        first_explicit = len(node.value) - explicit
        explicit_keys: set[Any] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            if not isinstance(key_node, yaml.ScalarNode):
                raise _NodeError(key_node, path, "YAML: a mapping key must be a plain value, not a list or mapping")
            key = _scalar(constructor, key_node, path)
            if not isinstance(key, str | int | float | bool | None):
                key = str(key)  # dates and other tagged keys: keep them printable and hashable
            child = (*path, key)
            if index >= first_explicit:
                if key in explicit_keys:
                    issues.append(
                        ConfigIssue(
                            file,
                            key_node.start_mark.line + 1,
                            child,
                            "key appears twice in the same mapping; the second would silently win",
                        )
                    )
                explicit_keys.add(key)
            lines[child] = key_node.start_mark.line + 1
            result[key] = _construct(
                constructor, value_node, path=child, lines=lines, issues=issues, file=file, active=active
            )
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(constructor, item, path=(*path, i), lines=lines, issues=issues, file=file, active=active)
            for i, item in enumerate(node.value)
        ]
    return _scalar(constructor, node, path)


def load_yaml(path: Path) -> tuple[Any, LineMap]:
    """Parse a YAML file; syntax errors and duplicate keys raise ``ConfigError`` with the line."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(file, None, (), "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(file, None, (), f"cannot read the file: {exc}")]) from None
    return parse_yaml(text, file)


def parse_yaml(text: str, file: str) -> tuple[Any, LineMap]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError([ConfigIssue(file, line, (), f"YAML syntax: {exc.problem}")]) from None
    except yaml.reader.ReaderError as exc:  # control characters; carries a position, not a mark
        line = text.count("\n", 0, exc.position) + 1
        shown = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        raise ConfigError([ConfigIssue(file, line, (), f"YAML: character {shown} is not allowed")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigIssue(file, None, (), f"YAML: {exc}")]) from None
    line_map = LineMap(file)
    if node is None:
        return {}, line_map
    issues: list[ConfigIssue] = []
    try:
        data = _construct(yaml.SafeLoader(""), node, path=(), lines=line_map.lines, issues=issues, file=file)
    except _NodeError as exc:
        raise ConfigError([*issues, ConfigIssue(file, exc.line, exc.path, exc.message)]) from None
    if issues:
        raise ConfigError(issues)
    return data, line_map


def is_mapping(value: object) -> bool:
    return isinstance(value, Mapping)
