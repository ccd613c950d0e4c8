"""Record classes for the data and rules layers, without :mod:`dataclasses`.

``import dataclasses`` imports :mod:`inspect` and with it ast, dis, tokenize
and linecache: a quarter of the time the whole offline check may take
(``benchmarks/bench_check.py``).  The records on that path need only a
small part of what dataclasses does, so this module does just that part:

- fields are the class's annotations, in order (inherited ones first);
- a class attribute is the field's default; :func:`field` gives a default
  factory for mutable defaults;
- ``__init__`` (positional or keyword), ``__repr__``, ``__eq__`` (same class,
  same values); ``frozen=True`` adds ``__hash__`` and refuses assignment,
  otherwise the class is unhashable, as a dataclass would be;
- :func:`replace` and :func:`fields`.

Pickling works as for any plain object (the state is ``__dict__``).
"""

from __future__ import annotations

_MISSING = object()


class field:  # noqa: N801 - named as dataclasses.field, used the same way
    """A default made by calling ``default_factory`` for each instance."""

    __slots__ = ("default_factory",)

    def __init__(self, *, default_factory) -> None:
        self.default_factory = default_factory


class FrozenInstanceError(AttributeError):
    pass


def fields(obj_or_cls) -> tuple[str, ...]:
    """The field names of a record class or instance, in order."""
    return obj_or_cls.__record_fields__


def replace(obj, **changes):
    """A copy of ``obj`` with ``changes`` (field name -> new value)."""
    names = obj.__record_fields__
    unknown = set(changes) - set(names)
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field {sorted(unknown)[0]!r}")
    values = {n: getattr(obj, n) for n in names}
    values.update(changes)
    return type(obj)(**values)


def record(cls=None, *, frozen: bool = False):
    """Make ``cls`` a record class (see the module's description)."""

    def wrap(cls):
        return _build(cls, frozen)

    return wrap if cls is None else wrap(cls)


def _build(cls, frozen: bool):
    names: list[str] = []
    defaults: dict = {}
    for klass in reversed(cls.__mro__):
        for name in klass.__dict__.get("__annotations__", {}):
            if name not in names:
                names.append(name)
            if name in klass.__dict__:
                defaults[name] = klass.__dict__[name]
            elif name in defaults and klass is cls:
                del defaults[name]
    seen_default = False
    for name in names:
        if name in defaults:
            seen_default = True
        elif seen_default:
            raise TypeError(f"{cls.__name__}: field {name!r} without a default follows one with a default")
    for name, value in defaults.items():
        if isinstance(value, field) and name in cls.__dict__:
            delattr(cls, name)
    order = tuple(names)
    index = frozenset(order)
    qualname = cls.__name__
    setter = object.__setattr__

    def __init__(self, *args, **kwargs):
        if len(args) > len(order):
            raise TypeError(f"{qualname}() takes {len(order)} arguments, {len(args)} given")
        values = dict(zip(order, args))
        for key, value in kwargs.items():
            if key not in index:
                raise TypeError(f"{qualname}() got an unexpected argument {key!r}")
            if key in values:
                raise TypeError(f"{qualname}() got two values for {key!r}")
            values[key] = value
        for name in order:
            if name not in values:
                default = defaults.get(name, _MISSING)
                if default is _MISSING:
                    raise TypeError(f"{qualname}() missing argument {name!r}")
                values[name] = default.default_factory() if isinstance(default, field) else default
        for name in order:
            setter(self, name, values[name])
        post = getattr(self, "__post_init__", None)
        if post is not None:
            post()

    def __repr__(self):
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in order)
        return f"{qualname}({inner})"

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in order)

    cls.__record_fields__ = order
    cls.__init__ = __init__
    if "__repr__" not in cls.__dict__:
        cls.__repr__ = __repr__
    cls.__eq__ = __eq__
    if frozen:
        def __hash__(self):
            return hash(tuple(getattr(self, n) for n in order))

        def __setattr__(self, name, value):
            raise FrozenInstanceError(f"cannot assign to field {name!r} of a frozen {qualname}")

        def __delattr__(self, name):
            raise FrozenInstanceError(f"cannot delete field {name!r} of a frozen {qualname}")

        cls.__hash__ = __hash__
        cls.__setattr__ = __setattr__
        cls.__delattr__ = __delattr__
    else:
        cls.__hash__ = None
    return cls
