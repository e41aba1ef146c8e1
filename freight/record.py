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
no generated code: its first instances are made by one ``__init__`` all records
share, which binds the arguments to the fields; a class of which many are made
(a tar member per entry of a layer) then gets an ``__init__`` compiled from its
field names, as ``collections.namedtuple`` has, which makes an instance several
times faster. Compiling costs about 15 us per field: done for every class, it
would add a millisecond or two to ``freight run``, which makes few of each.
Instances have ``__slots__``.
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


_COMPILE_AFTER = 32  # instances of a class made by the shared __init__ before it gets its own


def _bind(self: Record, args: tuple[object, ...], kwargs: dict[str, object]) -> None:
    """Positional arguments in field order, then keywords, then defaults, into the slots."""
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


def _init_source(names: tuple[str, ...], defaults: dict[str, object]) -> str:
    """A compiled ``__init__``'s source: the parameters, defaults made by factories, and one
    call storing every value."""
    params, body = [], []
    for name in names:
        default = defaults.get(name, _MISSING)
        if default is _MISSING:
            params.append(name)
        elif isinstance(default, _Factory):
            params.append(f"{name}=_MISSING")
            body.append(f" if {name} is _MISSING: {name} = _defaults[{name!r}].make()")
        else:
            params.append(f"{name}=_defaults[{name!r}]")
    body.append(f" _store(self, ({''.join(n + ', ' for n in names)}))")
    return f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body) + "\n"


def _storer(cls: type, names: tuple[str, ...]) -> Callable[[object, tuple[object, ...]], None]:
    """Stores a tuple of values in the fields' slots, past a frozen record's ``__setattr__``."""
    setters = [getattr(cls, name).__set__ for name in names]

    def store(record: object, values: tuple[object, ...]) -> None:
        for set_slot, value in zip(setters, values):
            set_slot(record, value)

    return store


def _compiled_init(cls: type[Record]) -> Callable[..., None]:
    scope: dict[str, Any] = {"_defaults": cls._defaults, "_MISSING": _MISSING,
                             "_store": _storer(cls, cls._fields)}
    exec(_init_source(cls._fields, cls._defaults), scope)  # the source holds only field names
    init: Callable[..., None] = scope["__init__"]
    return init


def _shared_init(owner: list[type[Record]]) -> Callable[..., None]:
    """The ``__init__`` a class starts with: ``_bind``, until the class has made enough
    instances to be worth compiling one of its own."""
    made = 0

    def __init__(self: Record, *args: object, **kwargs: object) -> None:
        nonlocal made
        made += 1
        if made < _COMPILE_AFTER:
            _bind(self, args, kwargs)
            return
        cls = owner[0]
        init = _compiled_init(cls)
        type.__setattr__(cls, "__init__", init)
        init(self, *args, **kwargs)

    return __init__


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
        owner: list[type[Record]] = []
        namespace["__init__"] = _shared_init(owner)
        cls = super().__new__(mcls, name, bases, namespace)
        owner.append(cls)  # type: ignore[arg-type]  # every class this metaclass makes is a Record
        return cls


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
