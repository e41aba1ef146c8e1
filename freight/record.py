"""One way to write a record: each field stated once, with its type.

    class PortBinding(Record):
        port: int
        proto: str = "tcp"
        tags: list[str] = field(default_factory=list)

    class Progress(Record, frozen=False):   # state that changes
        done: int = 0

A subclass gets ``__init__`` (positional or keyword arguments, defaults),
``__repr__``, ``__eq__`` and, when frozen (the default), ``__hash__`` and no
assignment to its fields; ``replace``, ``as_dict`` and ``fields`` are the
helpers ``dataclasses`` has. Type checkers read a record as a dataclass
(``typing.dataclass_transform``, PEP 681).

Why not ``dataclasses``: importing it (with the ``inspect`` it needs) and
generating its methods cost a cached build about 40 ms. A record class costs
no generated code at all: every record shares one ``__init__``, which binds the
arguments to the fields (compiling an ``__init__`` per class, as
``collections.namedtuple`` does, costs about 15 us per field, 1 ms of
``freight run`` for its records). Instances have ``__slots__``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs start-up time; type checkers treat this as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, ClassVar, TypeVar, dataclass_transform

    T = TypeVar("T")
    R = TypeVar("R", bound="Record")
else:
    def dataclass_transform(**_: object) -> object:
        return lambda cls: cls

_MISSING = object()


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], object]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], T]) -> T:
    """A default made anew for each record (a list, a dict), as ``dataclasses.field``."""
    return _Factory(default_factory)  # type: ignore[return-value]  # a marker read by the metaclass


def _own_fields(namespace: dict[str, Any]) -> list[str]:
    annotations = namespace.get("__annotations__", {})
    return [name for name, kind in annotations.items()
            if not name.startswith("_") and not str(kind).startswith(("ClassVar", "typing.ClassVar"))]


def _init(self: Record, *args: object, **kwargs: object) -> None:
    """Every record's ``__init__``: positional arguments in field order, then keywords, then
    defaults (one function for all: generating one per class would compile code at import)."""
    names = self._fields
    if len(args) > len(names):
        raise TypeError(f"{type(self).__name__}() takes {len(names)} positional arguments "
                        f"but {len(args)} were given")
    for name, value in zip(names, args):
        object.__setattr__(self, name, value)
    for name in names[len(args):]:
        value = kwargs.pop(name, _MISSING)
        if value is _MISSING:
            value = self._defaults.get(name, _MISSING)
            if value is _MISSING:
                raise TypeError(f"{type(self).__name__}() missing required argument: {name!r}")
            if isinstance(value, _Factory):
                value = value.make()
        object.__setattr__(self, name, value)
    if kwargs:
        name = next(iter(kwargs))
        problem = "got multiple values for argument" if name in names else "got an unexpected keyword argument"
        raise TypeError(f"{type(self).__name__}() {problem} {name!r}")


class _RecordMeta(type):
    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any],
                frozen: bool | None = None) -> _RecordMeta:
        inherited: tuple[str, ...] = ()
        defaults: dict[str, object] = {}
        for base in bases:
            inherited += tuple(n for n in getattr(base, "_fields", ()) if n not in inherited)
            defaults.update(getattr(base, "_defaults", {}))
        own = [n for n in _own_fields(namespace) if n not in inherited]
        for n in own:
            if n in namespace:
                defaults[n] = namespace.pop(n)
        names = inherited + tuple(own)
        for before, after in zip(names, names[1:]):
            if before in defaults and after not in defaults:
                raise TypeError(f"{name}: field {after!r} without a default follows {before!r}, which has one")
        if frozen is None:
            frozen = all(getattr(b, "_frozen", True) for b in bases)
        namespace.update(__slots__=tuple(own), _fields=names, _defaults=defaults, _frozen=frozen)
        if not frozen:
            namespace["__hash__"] = None
        namespace["__init__"] = _init
        return super().__new__(mcls, name, bases, namespace)


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
class Record(metaclass=_RecordMeta):
    """The base of every record; see the module's docstring."""

    _fields: ClassVar[tuple[str, ...]]
    _defaults: ClassVar[dict[str, object]]
    _frozen: ClassVar[bool]

    def __repr__(self) -> str:
        values = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields)
        return f"{type(self).__name__}({values})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self._fields)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, n) for n in self._fields))

    def __setattr__(self, name: str, value: object) -> None:
        if self._frozen and name in self._fields:
            raise AttributeError(f"{type(self).__name__} is frozen: cannot set {name!r}")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if self._frozen and name in self._fields:
            raise AttributeError(f"{type(self).__name__} is frozen: cannot delete {name!r}")
        object.__delattr__(self, name)


def replace(record: R, **changes: Any) -> R:
    """A copy of ``record`` with some fields changed, as ``dataclasses.replace``."""
    values = {n: getattr(record, n) for n in record._fields}
    unknown = changes.keys() - values.keys()
    if unknown:
        raise TypeError(f"{type(record).__name__} has no field {sorted(unknown)[0]!r}")
    values.update(changes)
    return type(record)(**values)


def as_dict(record: Record) -> dict[str, Any]:
    """The fields and their values, in order (not recursive)."""
    return {n: getattr(record, n) for n in record._fields}


def fields(record: Record | type[Record]) -> tuple[str, ...]:
    """The names of the fields, in order."""
    return record._fields
