"""YAML loading that remembers lines, so contract errors can name the offending line."""

from __future__ import annotations

from typing import Any

import yaml


class DuplicateKey(ValueError):
    """A mapping that names the same key twice (YAML allows it, a contract does not)."""


class LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping key and sequence item."""


def _construct_mapping(loader: LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise DuplicateKey(f"line {key_node.start_mark.line + 1}: duplicate key {key!r}")
        mapping[key] = loader.construct_object(value_node, deep=True)
        lines[str(key)] = key_node.start_mark.line + 1
    mapping["__lines__"] = lines
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_lines(v) for k, v in value.items() if k not in ("__lines__", "__line__")}
    if isinstance(value, list):
        return [strip_lines(v) for v in value]
    return value


def line_of(doc: Any, loc: tuple[int | str, ...]) -> int | None:
    """The line of the deepest YAML node on ``loc`` that still exists in the document."""
    line: int | None = doc.get("__line__") if isinstance(doc, dict) else None
    node: Any = doc
    for part in loc:
        if isinstance(node, dict) and str(part) in node.get("__lines__", {}):
            line = node["__lines__"][str(part)]
            node = node[str(part)]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            if isinstance(node, dict):
                line = node.get("__line__", line)
        else:
            break
    return line
