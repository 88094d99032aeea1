"""One small name -> object registry shared by every "pick one by name" table of LeanECG.

Models (:func:`leanecg.models.create_model`), classic models, datasets, benchmark tasks and pipeline ops
each keep a :class:`Registry`; an unknown name raises the same one-line error everywhere::

    LeanECGError(where, "unknown <kind> '<name>'; available: a, b, c")
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any, TypeVar

from leanecg.errors import LeanECGError

__all__ = ["Registry"]

T = TypeVar("T")
_MISSING: Any = object()


class Registry(MutableMapping[str, T]):
    """Named entries of one kind, in registration order (a mutable mapping ``name -> entry``).

    Args:
        kind: what an entry is, for error messages (``"model"``, ``"benchmark task"``, ``"op"``, ...).
        where: the ``path`` of the :class:`LeanECGError` an unknown name raises (``"model"``, ``"TASK"``).
        sort_names: list the available names sorted in error messages (default: registration order).
    """

    def __init__(self, kind: str, where: str, *, sort_names: bool = False) -> None:
        self.kind = kind
        self.where = where
        self.sort_names = sort_names
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T, *, replace: bool = False) -> T:
        """Add ``entry`` under ``name`` and return it; a taken name raises ``ValueError`` unless ``replace``."""
        if name in self._entries and not replace:
            raise ValueError(f"{self.kind} {name!r} is registered already")
        self._entries[name] = entry
        return entry

    def get(self, name: object, default: Any = _MISSING, *, where: str | None = None) -> Any:
        """The entry called ``name``; with a ``default``, that default for an unknown name (as ``dict.get``).

        Raises:
            LeanECGError: ``name`` is not registered and no ``default`` is given (at ``where``, default
                :attr:`where`); the message lists the registered names.
        """
        if isinstance(name, str) and name in self._entries:
            return self._entries[name]
        if default is not _MISSING:
            return default
        raise self.unknown(name, where=where)

    def unknown(self, name: object, *, where: str | None = None) -> LeanECGError:
        """The error :meth:`get` raises for ``name`` (for callers that try aliases first)."""
        names = sorted(self._entries) if self.sort_names else list(self._entries)
        return LeanECGError(
            where or self.where, f"unknown {self.kind} {name!r}; available: {', '.join(names) or 'none'}"
        )

    def list(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._entries)

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __setitem__(self, name: str, entry: T) -> None:
        self._entries[name] = entry

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"
