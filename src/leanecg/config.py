"""Dataclass configs: fields that declare their own checks, and read-back from plain dicts (parsed JSON).

A config field states what it accepts once, in its metadata, with :func:`option` (or the shorthands
:func:`positive`, :func:`non_negative`, :func:`in_range`, :func:`one_of`, :func:`flag`; ``each=True``: a
non-empty tuple of such values, each checked); one validator,
:func:`validate_config`, checks every such field and raises
:class:`~leanecg.errors.InvalidOptionError` naming ``<source>.<field>``. The configs call it from
``__post_init__`` (through their ``validate``), and :func:`config_from_dict` calls it on what it builds.

:class:`leanecg.train.TrainConfig`, :class:`leanecg.compress.DistillConfig` and
:class:`leanecg.ssl.PretrainConfig` build themselves from a dict with :func:`config_from_dict`.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Demo:
    ...     epochs: int = positive(10, integer=True)
    ...     dropout: float = in_range(0.1, 0, 1, high_open=True)
    ...     seeds: tuple[int, ...] = non_negative((0, 1), integer=True, each=True)
    ...     def __post_init__(self) -> None:
    ...         validate_config(self)
    >>> Demo(epochs=3).epochs
    3
    >>> Demo(dropout=1.0)
    Traceback (most recent call last):
    ...
    leanecg.errors.InvalidOptionError: Demo.dropout: must be a number in [0, 1), got 1.0
    >>> Demo(seeds=(0, -1))
    Traceback (most recent call last):
    ...
    leanecg.errors.InvalidOptionError: Demo.seeds[1]: must be an integer >= 0, got -1
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from leanecg.errors import InvalidOptionError, LeanECGError, check_choice, check_number

__all__ = [
    "CHECK",
    "Check",
    "config_from_dict",
    "flag",
    "in_range",
    "non_negative",
    "one_of",
    "option",
    "positive",
    "validate_config",
]

C = TypeVar("C")

#: The ``dataclasses.field`` metadata key under which a field's :class:`Check` is stored.
CHECK = "leanecg.check"


@dataclasses.dataclass(frozen=True)
class Check:
    """What one config field accepts.

    Attributes:
        kind: ``"number"`` (finite int or float), ``"int"``, ``"bool"`` or ``"choice"`` (one of ``choices``).
        low, high, low_open, high_open: bounds of numbers (see :func:`leanecg.errors.check_number`).
        optional: ``None`` is allowed too.
        choices: the allowed values of a ``"choice"``.
        each: the value is a non-empty sequence (a tuple or list, not a string) and every item is checked
            (an item's error names ``<name>[i]``); ``optional`` then allows ``None`` for the whole value.
    """

    kind: str = "number"
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    optional: bool = False
    choices: tuple[Any, ...] = ()
    each: bool = False

    def __call__(self, name: str, value: Any) -> None:
        """Raise :class:`InvalidOptionError` naming ``name`` unless ``value`` is acceptable."""
        if value is None and self.optional:
            return
        if not self.each:
            self._check_one(name, value, self.optional)
            return
        if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) == 0:
            null = " or null" if self.optional else ""
            raise InvalidOptionError(name, f"must be a non-empty list{null}, got {value!r}")
        for i, item in enumerate(value):
            self._check_one(f"{name}[{i}]", item, False)

    def _check_one(self, name: str, value: Any, optional: bool) -> None:
        null = " or null" if optional else ""
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise InvalidOptionError(name, f"must be true or false{null}, got {value!r}")
        elif self.kind == "choice":
            check_choice(name, value, self.choices, what="item" if self.each else "", optional=optional)
        else:
            check_number(
                name,
                value,
                low=self.low,
                high=self.high,
                low_open=self.low_open,
                high_open=self.high_open,
                integer=self.kind == "int",
                optional=optional,
            )


def option(default: Any = dataclasses.MISSING, check: Check | None = None, **field_kwargs: Any) -> Any:
    """A ``dataclasses.field`` with ``default``; its metadata carries ``check`` for :func:`validate_config`."""
    metadata = dict(field_kwargs.pop("metadata", {}) or {})
    if check is not None:
        metadata[CHECK] = check
    return dataclasses.field(default=default, metadata=metadata, **field_kwargs)


def positive(default: Any, *, integer: bool = False, optional: bool = False, each: bool = False) -> Any:
    """A field that must be > 0 (an integer >= 1 with ``integer``); ``optional``: or ``None``; ``each``: a
    non-empty sequence of such values."""
    kind = "int" if integer else "number"
    return option(default, Check(kind, low=0, low_open=True, optional=optional, each=each))


def non_negative(default: Any, *, integer: bool = False, optional: bool = False, each: bool = False) -> Any:
    """A field that must be >= 0; ``optional``: or ``None``; ``each``: a non-empty sequence of such values."""
    return option(default, Check("int" if integer else "number", low=0, optional=optional, each=each))


def in_range(
    default: Any,
    low: float | None,
    high: float | None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    optional: bool = False,
    each: bool = False,
) -> Any:
    """A field between ``low`` and ``high`` (inclusive unless ``*_open``; ``None``: unbounded); ``each``: a
    non-empty sequence of such values."""
    kind = "int" if integer else "number"
    return option(default, Check(kind, low, high, low_open, high_open, optional, each=each))


def one_of(default: Any, choices: Iterable[Any], *, optional: bool = False, each: bool = False) -> Any:
    """A field that must be one of ``choices``; ``each``: a non-empty sequence of such values."""
    return option(default, Check("choice", optional=optional, choices=tuple(choices), each=each))


def flag(default: bool) -> Any:
    """A field that must be ``True`` or ``False``."""
    return option(default, Check("bool"))


def validate_config(cfg: Any, source: str | None = None) -> None:
    """Check every field of the dataclass instance ``cfg`` that declares a :class:`Check`.

    Args:
        cfg: a dataclass instance.
        source: prefix of the error path (``"<source>.<field>"``); default: the class name.

    Raises:
        InvalidOptionError: the first field (in declaration order) whose value its check refuses.
    """
    prefix = source if source is not None else type(cfg).__name__
    for f in dataclasses.fields(cfg):
        check = f.metadata.get(CHECK)
        if check is not None:
            check(f"{prefix}.{f.name}", getattr(cfg, f.name))


def config_from_dict(cls: type[C], d: Mapping[str, Any], source: str, what: str) -> C:
    """An instance of the dataclass ``cls`` with the fields in ``d`` and the defaults of the others.

    ``__init__`` and ``__post_init__`` do not run, so the caller can normalise fields first and then run
    its own cross-field checks with its own ``source``; the declared field checks (:func:`validate_config`)
    run here, with ``source`` as the prefix.

    Args:
        cls: a dataclass whose fields all have defaults.
        d: field name -> value.
        source: where ``d`` came from, for error messages (e.g. a file name).
        what: the kind of config in error messages, e.g. ``"training"``.

    Raises:
        InvalidOptionError: ``d`` has keys that are not fields of ``cls``, or a field's value is refused.
        LeanECGError: ``d`` is not a mapping.
    """
    if not isinstance(d, Mapping):
        raise LeanECGError(source, f"a {what} config must be an object, got {type(d).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(map(str, set(d) - names))
    if unknown:
        raise InvalidOptionError(source, f"unknown {what} option(s): {', '.join(unknown)}")
    defaults = cls()
    cfg = cls.__new__(cls)
    for name in names:
        setattr(cfg, name, d[name] if name in d else getattr(defaults, name))
    validate_config(cfg, source)
    return cfg
