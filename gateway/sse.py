"""Server-sent events, parsed as the HTML standard defines them and re-sent event by event.

Lines end in CRLF, LF or CR, mixed freely; an event ends at an empty line; a field is
the text before the first colon and its value the rest, less one leading space; a line
without a colon is a field with an empty value; a leading byte order mark is ignored.
The gateway parses exactly so and re-sends each event in one canonical spelling (LF
line endings), so that what it inspected is what the client reads however the upstream
wrote it.  Nothing is held back beyond the event being read.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

MAX_EVENT_BYTES = 8 * 1024 * 1024
_LINE_END = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


class EventTooLarge(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Event:
    lines: tuple[bytes, ...]
    """Its lines, comments included, without line endings."""

    @property
    def type(self) -> bytes:
        types = [value for name, value in map(_field, self.lines) if name == b"event"]
        return types[-1] if types else b"message"

    @property
    def data(self) -> bytes:
        return b"\n".join(value for name, value in map(_field, self.lines) if name == b"data")

    def with_data(self, data: bytes) -> Event:
        """The same event with its data replaced, in the place of its first data line."""
        kept: list[bytes] = []
        placed = False
        for line in self.lines:
            if _field(line)[0] != b"data":
                kept.append(line)
            elif not placed:
                kept.extend(b"data: " + part for part in data.split(b"\n"))
                placed = True
        return Event(tuple(kept))

    def encode(self) -> bytes:
        return b"".join(line + b"\n" for line in self.lines) + b"\n"


def _field(line: bytes) -> tuple[bytes, bytes]:
    name, colon, value = line.partition(b":")
    if not colon:
        return line, b""
    return name, value.removeprefix(b" ")


async def events(chunks: AsyncIterator[bytes]) -> AsyncIterator[Event]:
    """The complete events of a byte stream; a trailing incomplete event is dropped, as clients do."""
    reader = _EventReader()
    async for chunk in chunks:
        for event in reader.feed(chunk):
            yield event
    for event in reader.finish():
        yield event


class _EventReader:
    def __init__(self) -> None:
        self._buffer = b""
        self._lines: list[bytes] = []
        self._size = 0
        self._started = False

    def feed(self, chunk: bytes) -> list[Event]:
        text = self._buffer + chunk
        if not self._started:
            if len(text) < len(_BOM) and _BOM.startswith(text):
                self._buffer = text
                return []
            text = text.removeprefix(_BOM)
            self._started = True
        held = 1 if text.endswith(b"\r") else 0  # a CR may be the first half of a CRLF
        found = self._lines_of(text[: len(text) - held])
        self._buffer += text[len(text) - held :]
        if self._size + len(self._buffer) > MAX_EVENT_BYTES:
            raise EventTooLarge
        return found

    def finish(self) -> list[Event]:
        return self._lines_of(self._buffer)

    def _lines_of(self, text: bytes) -> list[Event]:
        parts = _LINE_END.split(text)
        self._buffer = parts.pop()
        found = []
        for line in parts:
            if line:
                self._lines.append(line)
                self._size += len(line) + 1
            elif self._lines:
                found.append(Event(tuple(self._lines)))
                self._lines, self._size = [], 0
        return found
