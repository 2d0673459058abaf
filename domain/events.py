"""Records (commands and events), the event base class, and the stored-event registry.

Commands and events are small classes with ``__slots__`` and ``Final`` attributes: immutable by
contract (``mypy --strict`` rejects any assignment after ``__init__``, and the mypyc build makes
them read-only at run time), several times cheaper to create than frozen dataclasses or
``NamedTuple``\\ s, and native structs when compiled. :class:`Record` gives them value equality
(type included), hashing, a readable ``repr`` and ``to_dict()``.

Events hold only ``int``, ``str``, ``bool``, ``None`` and tuples of those (or of other events),
so ``to_dict()`` is JSON-able and ``event_from_dict(type, data)`` restores an equal event. Event
modules register their classes with :func:`register`.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, ClassVar

from mypy_extensions import mypyc_attr

from domain.errors import DomainError, ErrorCode

_REGISTRY: dict[str, type[Event]] = {}
_GETTERS: dict[type, Callable[[Any], tuple[Any, ...]]] = {}
"""Per class: one C-level call that reads every field (``to_dict`` runs per stored event)."""
_PLAIN: frozenset[type] = frozenset({int, str, bool, type(None)})
"""Field value types that ``to_dict`` keeps as they are."""


def _getter(cls: type[Record]) -> Callable[[Any], tuple[Any, ...]]:
    getter = _GETTERS.get(cls)
    if getter is None:
        names = cls.FIELDS
        if len(names) >= 2:
            getter = attrgetter(*names)
        else:
            getter = lambda record: tuple(getattr(record, name) for name in names)  # noqa: E731
        _GETTERS[cls] = getter
    return getter


@mypyc_attr(acyclic=True)
class Record:
    """Value semantics for a slotted class whose ``FIELDS`` name its attributes in order."""

    __slots__ = ()
    FIELDS: ClassVar[tuple[str, ...]] = ()

    def values(self) -> tuple[Any, ...]:
        """The field values in ``FIELDS`` order."""
        return _getter(type(self))(self)

    def to_dict(self) -> dict[str, object]:
        """The fields as a JSON-able dict (tuples become lists, nested records dicts)."""
        cls = type(self)
        plain = _PLAIN
        return {
            name: value if type(value) in plain else _jsonable(value)
            for name, value in zip(cls.FIELDS, _getter(cls)(self), strict=True)
        }

    def replace(self, **changes: Any) -> Any:
        """A copy with some fields changed."""
        values = {name: getattr(self, name) for name in type(self).FIELDS}
        values.update(changes)
        return type(self)(**values)

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other) or not isinstance(other, Record):
            return False
        return self.values() == other.values()

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in type(self).FIELDS)
        return f"{type(self).__name__}({fields})"


@mypyc_attr(acyclic=True)
class Event(Record):
    """Base of every domain event."""

    __slots__ = ()
    #: Fields stored as JSON lists that must come back as tuples.
    TUPLE_FIELDS: ClassVar[frozenset[str]] = frozenset()
    #: Fields the stored data may leave out, and the value each then has (the command API
    #: leaves default values out of what it stores per order: fewer bytes in every process).
    DEFAULTS: ClassVar[dict[str, Any]] = {}

    @property
    def event_type(self) -> str:
        """The name under which the event is stored (its class name)."""
        return type(self).__name__

    @classmethod
    def decode_field(cls, name: str, value: Any) -> Any:
        """Turn one stored JSON value back into the field's Python value."""
        if name in cls.TUPLE_FIELDS and isinstance(value, list):
            return tuple(value)
        return value

    @classmethod
    def decode(cls, data: dict[str, Any]) -> Event:
        """The event of stored ``data`` that names every field (``event_from_dict`` checks)."""
        factory: Any = cls
        event: Event = factory(
            **{name: cls.decode_field(name, value) for name, value in data.items()}
        )
        return event


def _jsonable(value: object) -> object:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    return value


def register(*classes: type[Event]) -> None:
    """Make event classes known to :func:`event_from_dict` under their class names."""
    for cls in classes:
        _REGISTRY[cls.__name__] = cls


def event_types() -> dict[str, type[Event]]:
    """Every registered event class by its stored name."""
    return dict(_REGISTRY)


def event_from_dict(event_type: str, data: dict[str, Any]) -> Event:
    """Rebuild an event from its stored type name and ``to_dict()`` data.

    A field of the class's ``DEFAULTS`` that ``data`` leaves out has its default value.

    Raises ``DomainError`` (``INVALID_ORDER``) for an unknown type or mismatching fields, which
    means the store holds something this code does not understand.
    """
    cls = _REGISTRY.get(event_type)
    if cls is None:
        raise DomainError(f"unknown event type {event_type!r}", ErrorCode.INVALID_ORDER)
    names = set(data)
    if names != set(cls.FIELDS):
        defaults = cls.DEFAULTS
        if not names.issubset(cls.FIELDS) or not defaults.keys() >= set(cls.FIELDS) - names:
            raise DomainError(
                f"bad fields for {event_type}: {sorted(data)}", ErrorCode.INVALID_ORDER
            )
        data = with_defaults(cls, data)
    return cls.decode(data)


def with_defaults(cls: type[Event], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every field ``cls.DEFAULTS`` lets it leave out, in ``FIELDS`` order."""
    defaults = cls.DEFAULTS
    return {name: data[name] if name in data else defaults[name] for name in cls.FIELDS}
