"""Dataclass configs read back from plain dicts (e.g. parsed JSON), shared by the training-style configs.

:class:`leanecg.train.TrainConfig`, :class:`leanecg.compress.DistillConfig` and
:class:`leanecg.ssl.PretrainConfig` build themselves from a dict with :func:`config_from_dict`, then validate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from leanecg.errors import LeanECGError

__all__ = ["config_from_dict"]

C = TypeVar("C")


def config_from_dict(cls: type[C], d: Mapping[str, Any], source: str, what: str) -> C:
    """An instance of the dataclass ``cls`` with the fields in ``d`` and the defaults of the others.

    The instance is *not* validated (``__init__`` and ``__post_init__`` do not run), so the caller can
    normalise fields first and then validate with its own ``source``.

    Args:
        cls: a dataclass whose fields all have defaults.
        d: field name -> value.
        source: where ``d`` came from, for error messages (e.g. a file name).
        what: the kind of config in error messages, e.g. ``"training"``.

    Raises:
        LeanECGError: ``d`` is not a mapping or has keys that are not fields of ``cls``.
    """
    if not isinstance(d, Mapping):
        raise LeanECGError(source, f"a {what} config must be an object, got {type(d).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(map(str, set(d) - names))
    if unknown:
        raise LeanECGError(source, f"unknown {what} option(s): {', '.join(unknown)}")
    defaults = cls()
    cfg = cls.__new__(cls)
    for name in names:
        setattr(cfg, name, d[name] if name in d else getattr(defaults, name))
    return cfg
