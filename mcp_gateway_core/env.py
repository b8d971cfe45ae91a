"""Reading declared variables from the environment, every problem collected before start-up stops.

A value is parsed by its variable's parser (see :mod:`mcp_gateway_core.variables`); a bad
one becomes a problem naming the variable and the fix, and reading goes on, so that one
start shows every mistake in ``.env`` rather than the first.  Blank counts as unset.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")

HTTP_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
"""RFC 9110 ``token``: what a header or cookie name may be."""


class ConfigError(Exception):
    """Settings are missing or malformed; each problem is one line an operator reads."""

    def __init__(self, variable: str, problem: str, *more: tuple[str, str]) -> None:
        self.problems = [(variable, problem), *more]
        super().__init__("\n".join(f"{name}: {text}" for name, text in self.problems))

    @classmethod
    def about(cls, variable: str, problems: list[str]) -> ConfigError:
        """Several problems with one setting, such as every bad line of the file it names."""
        return cls(variable, problems[0], *((variable, problem) for problem in problems[1:]))

    @property
    def variable(self) -> str:
        return self.problems[0][0]


@dataclass(frozen=True, slots=True)
class Variable(Generic[T]):
    name: str
    parse: Callable[[str], T]
    """Turns the text into the value, or raises ValueError saying what is wrong and how to fix it."""
    default: T
    services: frozenset[str]


class Reader:
    """Reads variables from one environment and keeps every problem until :meth:`check`."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.problems: list[tuple[str, str]] = []

    def __call__(self, variable: Variable[T]) -> T:
        raw = self._environ.get(variable.name, "").strip()
        if not raw:
            return variable.default
        try:
            return variable.parse(raw)
        except ValueError as exc:
            self.problems.append((variable.name, str(exc)))
            return variable.default

    def is_set(self, variable: Variable[Any]) -> bool:
        return bool(self._environ.get(variable.name, "").strip())

    def problem(self, variable: Variable[Any] | str, text: str) -> None:
        self.problems.append((variable if isinstance(variable, str) else variable.name, text))

    def check(self) -> None:
        """Raise one ConfigError holding every problem found, if any was."""
        if self.problems:
            raise ConfigError(*self.problems[0], *self.problems[1:])


def text(value: str) -> str:
    return value


def path(value: str) -> Path:
    return Path(value)


def url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"{value!r} is not an http(s) URL without query or fragment")
    return value.rstrip("/")


def words(value: str) -> tuple[str, ...]:
    return tuple(word.strip() for word in value.split(",") if word.strip())


def boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not a boolean; use true or false")


def http_token(value: str) -> str:
    if not HTTP_TOKEN.match(value):
        raise ValueError(f"{value!r} is not a valid name (letters, digits and !#$%&'*+-.^_`|~ only)")
    return value


def integer(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number") from None
        if number < minimum or (maximum is not None and number > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise ValueError(f"{number} is out of range; use a value {bound}")
        return number

    return parse


def number(minimum: float) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            parsed = float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
        if not parsed >= minimum or math.isinf(parsed):
            raise ValueError(f"{value} is out of range; use a finite value of at least {minimum:g}")
        return parsed

    return parse
