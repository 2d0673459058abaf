"""Cheap, unique, roughly time-ordered event ids (the default ``NewEvent.event_id``).

``uuid4()`` costs a ``getrandom`` call and ``str()`` of the result another formatting pass,
about 3-6 µs per event together on this machine, a fifth of the append path's Python time. An
:class:`EventId` is a real :class:`uuid.UUID` (equal to and hashing like the same UUID read back
from the table) laid out like a UUIDv7: the first 48 bits are the Unix time in ms when its
*prefix* was drawn, then the version (7), 74 random bits drawn once per prefix, and the last 48
bits a counter. Its text form is built once, by appending the counter's 12 hex digits to the
prefix's text. Ids of one process increase, so InnoDB's unique index on ``event_id`` receives
them in order (not at random pages as with ``uuid4``). Two processes collide only if they draw
the same 74 random bits in the same millisecond.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Final

_COUNTER_BITS: Final = 48
_SAFE: Final = uuid.SafeUUID.unknown
_new = object.__new__


class EventId(uuid.UUID):
    """A UUID that keeps its text form (see the module docstring)."""

    __slots__ = ("_text",)
    _text: str

    def __str__(self) -> str:
        return self._text


class EventIds:
    """A source of :class:`EventId`\\ s: one prefix, then a counter in the last 48 bits."""

    def __init__(self) -> None:
        self._prefix_int = 0
        self._prefix_text = ""
        self._next = 1 << _COUNTER_BITS  # forces a prefix on first use

    def _new_prefix(self) -> None:
        ms = time.time_ns() // 1_000_000 & (1 << 48) - 1
        rand = int.from_bytes(os.urandom(10)) & (1 << 74) - 1
        rand_a, rand_b = rand >> 62, rand & (1 << 62) - 1
        value = ms << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
        value &= ~((1 << _COUNTER_BITS) - 1)
        self._prefix_int = value
        self._prefix_text = str(uuid.UUID(int=value))[:-12]
        self._next = int.from_bytes(os.urandom(2))  # a random start within the counter

    def _draw(self) -> int:
        """The next counter value (drawing a new prefix every 2**48 ids)."""
        if self._next >> _COUNTER_BITS:
            self._new_prefix()
        counter = self._next
        self._next = counter + 1
        return counter

    def __call__(self) -> EventId:
        """The next id."""
        counter = self._draw()
        new = _new(EventId)
        _set_int(new, self._prefix_int | counter)
        _set_safe(new, _SAFE)
        _set_text(new, f"{self._prefix_text}{counter:012x}")
        return new

    def text(self) -> str:
        """The next id as its text only, for writers that build store rows themselves (the
        same sequence as calling the source; no UUID object is built: half the cost)."""
        counter = self._draw()  # first: it may draw the prefix
        return f"{self._prefix_text}{counter:012x}"


# UUID forbids attribute assignment; its slots' own descriptors set them (cheaper than
# object.__setattr__, and exactly what UUID.__init__ does).
_set_int = uuid.UUID.__dict__["int"].__set__
_set_safe = uuid.UUID.__dict__["is_safe"].__set__
_set_text = EventId.__dict__["_text"].__set__


def event_id_from_text(text: str) -> EventId:
    """The id a stored or relayed event's text names (a ``UUID``; its text kept, not re-made)."""
    new = _new(EventId)
    _set_int(new, int(text.replace("-", ""), 16))
    _set_safe(new, _SAFE)
    _set_text(new, text)
    return new


new_event_id: Final = EventIds()
"""The process's id source (ids are unique across forks: the prefix is drawn after a fork)."""

new_event_id_text: Final = new_event_id.text
"""The next id of the process's source, as text (see :meth:`EventIds.text`)."""


def _redraw_after_fork() -> None:
    new_event_id._next = 1 << _COUNTER_BITS


os.register_at_fork(after_in_child=_redraw_after_fork)
