"""YAML configuration files read into typed models, every problem reported with its file and line.

PyYAML's ``safe_load`` loses line numbers and merges duplicate keys silently; pydantic
checks types but knows nothing of lines.  So the file is composed into nodes (which know
their lines, and show duplicate keys), turned into plain values, and validated by a
pydantic model; each validation error is mapped back to the line of the key it is about
and worded for a person editing the file.  (``scopes.yml`` keeps its own node walker in
``auth_server/policy.py``: its format, the AWS registry's, is not a fixed schema.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

M = TypeVar("M", bound=BaseModel)
Location = tuple[str | int, ...]
Check = Callable[[M], list[tuple[Location, str]]]


class ConfigFileError(Exception):
    """The file cannot be used; one line per problem, ``file:line: key: problem``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_model(path: Path, model: type[M], check: Check[M] | None = None) -> M:
    """The file as ``model``; ``check`` adds problems only the whole document shows."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError([f"{path}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError([f"{path}: cannot be read ({exc})"]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigFileError(
            [f"{where}: YAML syntax error: {getattr(exc, 'problem', None) or exc}"]
        ) from None
    if root is None:
        raise ConfigFileError([f"{path}: file is empty"])
    lines: dict[Location, int] = {}
    problems = [f"{path}:{line}: {_dotted(where)}: duplicate key" for where, line in _index(root, (), lines)]
    value = yaml.SafeLoader("").construct_document(root)
    try:
        document = model.model_validate(value)
    except ValidationError as exc:
        problems += [
            _line(path, lines, tuple(part for part in error["loc"] if part != "[key]"), _wording(error))
            for error in exc.errors()
        ]
        raise ConfigFileError(problems) from None
    problems += [_line(path, lines, where, problem) for where, problem in (check(document) if check else [])]
    if problems:
        raise ConfigFileError(problems)
    return document


def _index(node: Node, where: Location, lines: dict[Location, int]) -> Iterator[tuple[Location, int]]:
    """Record the line of every key and item; yield the duplicate keys."""
    lines.setdefault(where, node.start_mark.line + 1)
    if isinstance(node, MappingNode):
        for key, value in node.value:
            name = key.value if isinstance(key, ScalarNode) else str(key.start_mark)
            inner = (*where, name)
            if inner in lines:
                yield inner, key.start_mark.line + 1
            lines[inner] = key.start_mark.line + 1
            yield from _index(value, inner, lines)
    elif isinstance(node, SequenceNode):
        for position, item in enumerate(node.value):
            yield from _index(item, (*where, position), lines)


def _line(path: Path, lines: dict[Location, int], where: Location, problem: str) -> str:
    known = tuple(str(part) if not isinstance(part, int) else part for part in where)
    while known and known not in lines:
        known = known[:-1]
    return f"{path}:{lines.get(known, 1)}: {_dotted(where) or '(top level)'}: {problem}"


def _dotted(where: Location) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in where).lstrip(".")


_WORDING = {
    "missing": "is required",
    "extra_forbidden": "unknown key",
    "int_type": "expected a whole number, got {input!r}",
    "int_parsing": "expected a whole number, got {input!r}",
    "int_from_float": "expected a whole number, got {input!r}",
    "float_type": "expected a number, got {input!r}",
    "float_parsing": "expected a number, got {input!r}",
    "string_type": "expected text, got {input!r}",
    "bool_type": "expected true or false, got {input!r}",
    "dict_type": "expected a mapping (key: value lines), got {input!r}",
    "list_type": "expected a list, got {input!r}",
    "greater_than": "must be greater than {gt}, got {input!r}",
    "greater_than_equal": "must be at least {ge}, got {input!r}",
    "less_than": "must be less than {lt}, got {input!r}",
    "less_than_equal": "must be at most {le}, got {input!r}",
    "literal_error": "must be one of {expected}, got {input!r}",
}


def _wording(error: ErrorDetails) -> str:
    if error["type"] == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    template = _WORDING.get(error["type"])
    if template is None:
        return error["msg"]
    values: dict[str, Any] = {"input": error.get("input"), **error.get("ctx", {})}
    try:
        return template.format(**values)
    except (KeyError, IndexError):
        return error["msg"]
