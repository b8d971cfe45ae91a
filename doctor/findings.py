"""What the doctor reports: one line per finding, a problem (exit 1), a note, or a check passed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Level(Enum):
    OK = "ok"
    NOTE = "note"
    PROBLEM = "PROBLEM"


@dataclass(frozen=True, slots=True)
class Finding:
    level: Level
    check: str
    """A short name of what was checked, such as ``jwks`` or ``browser-client``; tests select on it."""
    text: str
    fix: str = ""

    def line(self) -> str:
        fix = f" Fix: {self.fix}" if self.fix else ""
        return f"{self.level.value:<7} [{self.check}] {self.text}{fix}"


def ok(check: str, text: str) -> Finding:
    return Finding(Level.OK, check, text)


def note(check: str, text: str, fix: str = "") -> Finding:
    return Finding(Level.NOTE, check, text, fix)


def problem(check: str, text: str, fix: str) -> Finding:
    return Finding(Level.PROBLEM, check, text, fix)
