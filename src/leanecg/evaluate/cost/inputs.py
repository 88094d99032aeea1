"""Keyword inputs besides the signal: validation against ``model.extra_inputs`` and example tensors.

LeanECG models map ``x: (batch, n_leads, n_samples)`` to logits; some also take keyword inputs
(``beatnet`` and ``wide_deep``: ``features: (batch, n_features)``, ``wide_deep`` optionally
``age_sex: (batch, 2)``) and name them in ``model.extra_inputs``. The cost meter is told their shapes
**without** the batch axis, e.g. ``{"features": (7,)}``, and feeds tensors of shape ``(batch, *shape)``
in the model's floating dtype (float32 for every LeanECG model) as keyword arguments.

A model that declares ``extra_inputs`` is held to it: a declared input that is not given, or a given
input that is not declared (it would be ignored, so the measured cost would not be the cost of the model
the user meant), raises :class:`~leanecg.errors.LeanECGError`. Models without the attribute (any other
``nn.Module``) get whatever keyword inputs are given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from leanecg.errors import LeanECGError

__all__ = [
    "check_extra_inputs",
    "declared_extra_inputs",
    "describe_shapes",
    "make_extra_inputs",
    "model_dtype",
]

ExtraShapes = dict[str, tuple[int, ...]]


def model_dtype(model: nn.Module) -> torch.dtype:
    """The dtype of the model's first floating parameter (float32 when it has none)."""
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)


def declared_extra_inputs(model: nn.Module) -> tuple[str, ...] | None:
    """``model.extra_inputs`` as a tuple of names, or ``None`` when the model does not declare it."""
    declared = getattr(model, "extra_inputs", None)
    if isinstance(declared, str) or not isinstance(declared, Sequence):
        return None
    if not all(isinstance(n, str) for n in declared):
        return None
    return tuple(declared)


def _hint(model: nn.Module, names: Sequence[str]) -> str:
    """``{'features': (7,)}``-style example of the missing argument (widths from ``n_<name>``)."""
    parts = []
    for name in names:
        width = getattr(model, f"n_{name}", None)
        shape = f"({width},)" if isinstance(width, int) and not isinstance(width, bool) else "(...)"
        parts.append(f"{name!r}: {shape}")
    return "{" + ", ".join(parts) + "}"


def _check_shapes(extra_inputs: Any, arg: str) -> ExtraShapes:
    if not isinstance(extra_inputs, Mapping):
        kind = type(extra_inputs).__name__
        raise LeanECGError(
            arg,
            f"must map input names to shapes without the batch axis, e.g. {{'features': (7,)}}; got {kind}",
        )
    shapes: ExtraShapes = {}
    for name, shape in extra_inputs.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise LeanECGError(
                arg, f"input names must be Python identifiers (keyword arguments), got {name!r}"
            )
        if name == "x":
            raise LeanECGError(arg, "'x' is the signal input (input_shape); name only the keyword inputs")
        if isinstance(shape, str | bytes) or not isinstance(shape, Sequence):
            problem = f"shape of {name!r} must be a sequence of integers without the batch axis, e.g. (7,)"
            raise LeanECGError(arg, f"{problem}; got {shape!r}")
        if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in shape):
            raise LeanECGError(arg, f"every axis of {name!r} must be an integer >= 1, got {tuple(shape)}")
        shapes[name] = tuple(int(s) for s in shape)
    return shapes


def check_extra_inputs(
    model: nn.Module,
    extra_inputs: Mapping[str, Sequence[int]] | None,
    *,
    where: str = "model",
    arg: str = "extra_inputs",
) -> ExtraShapes:
    """Validate keyword-input shapes against what ``model`` declares.

    Args:
        model: the model; its ``extra_inputs`` attribute (names), when present, must match the keys.
        extra_inputs: ``{name: shape without the batch axis}`` or ``None`` (no keyword inputs).
        where: error path for a model whose required inputs are not given (``"model"``,
            ``"reference"``).
        arg: name of the argument, used in messages (``"extra_inputs"``, ``"reference_extra_inputs"``).

    Returns:
        ``{name: shape}`` with integer tuples (empty when there are none).

    Raises:
        LeanECGError: a malformed mapping, a declared input missing, or an input the model does not take.
    """
    shapes = {} if extra_inputs is None else _check_shapes(extra_inputs, arg)
    declared = declared_extra_inputs(model)
    if declared is None:
        return shapes
    missing = [n for n in declared if n not in shapes]
    if missing:
        given = f" (given: {sorted(shapes)})" if shapes else ""
        raise LeanECGError(
            where,
            f"{type(model).__name__} needs {arg}={_hint(model, declared)} (shapes without the batch axis)"
            f"{given}",
        )
    unexpected = [n for n in shapes if n not in declared]
    if unexpected:
        takes = ", ".join(declared) if declared else "none"
        names = ", ".join(map(repr, unexpected))
        raise LeanECGError(arg, f"{type(model).__name__} does not take {names} (its extra inputs: {takes})")
    return shapes


def make_extra_inputs(
    shapes: Mapping[str, tuple[int, ...]],
    batch: int,
    dtype: torch.dtype = torch.float32,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, torch.Tensor]:
    """Tensors ``(batch, *shape)`` for each keyword input: standard normal draws from ``generator``,
    or zeros when no generator is given."""
    out: dict[str, torch.Tensor] = {}
    for name, shape in shapes.items():
        full = (int(batch), *shape)
        if generator is None:
            out[name] = torch.zeros(full, dtype=dtype, device=device)
        else:
            out[name] = torch.randn(full, generator=generator).to(dtype=dtype, device=device)
    return out


def describe_shapes(x: Any, kwargs: Mapping[str, Any] | None = None) -> str:
    """``"x (1, 2, 100), features (1, 7)"`` for error messages."""
    parts = []
    xs = x if isinstance(x, tuple | list) else (x,)
    for i, t in enumerate(xs):
        if isinstance(t, torch.Tensor):
            parts.append(f"{'x' if len(xs) == 1 else f'arg{i}'} {tuple(t.shape)}")
    for name, t in (kwargs or {}).items():
        if isinstance(t, torch.Tensor):
            parts.append(f"{name} {tuple(t.shape)}")
    return ", ".join(parts)
