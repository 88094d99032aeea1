"""Preprocessing pipelines: named steps, applied in order, stored as JSON next to the models they feed.

A :class:`Pipeline` is a list of steps, each a dict with an ``"op"`` name and that op's parameters::

    p = Pipeline([
        {"op": "leads", "leads": ["I", "II"], "missing": "derive"},
        {"op": "bandpass", "low_hz": 0.5, "high_hz": 40},
        {"op": "resample", "fs_out": 250},
        {"op": "zscore"},
    ])
    y, fs_out = p(x, fs, leads=record.leads)   # y float32 (n_out, 2), fs_out == 250.0

Calling a pipeline tracks the sampling rate (``resample`` changes it, later steps see the new rate) and
the lead names (``leads`` changes them); :meth:`Pipeline.apply` also returns the names and the mask of
real (not zero-filled) leads. The output is always ``float32``; steps compute in ``float64``.

Stored format (version 1)
-------------------------
``to_json()`` / ``to_dict()`` write::

    {"format": "leanecg.pipeline", "version": 1,
     "steps": [{"op": "bandpass", "low_hz": 0.5, "high_hz": 40.0, "order": 4, "zero_phase": true}, ...]}

* Every parameter is written, defaults included, with its declared type (floats as JSON numbers with a
  fraction, ints as integers), so a stored pipeline means the same thing even if a default changes in a
  later release. Parameters left out on input take the defaults below; unknown ops or parameters, wrong
  types and values are refused with :class:`~leanecg.errors.LeanECGError`.
* ``from_dict`` / ``from_json`` accept any version up to the current one and refuse newer ones.
* :meth:`Pipeline.fingerprint` is the SHA-256 of the canonical JSON (sorted keys, no spaces) of
  ``to_dict()``: equal pipelines have equal fingerprints, on any machine; it keys caches of preprocessed
  tensors. It covers the pipeline's definition, not LeanECG's version.

Ops (parameters and defaults; units as in the functions named):

================  ==========================================================================  ==========
op                parameters                                                                  function
================  ==========================================================================  ==========
interpolate_gaps  ``max_gap_s=0.5`` (None: unlimited), ``method="linear"|"pchip"``            gaps.interpolate_gaps
remove_baseline   ``method="highpass"|"median"``, ``cutoff_hz=0.5``, ``order=2``,            filters.remove_baseline
                  ``zero_phase=true``
bandpass          ``low_hz=0.5`` (None: none), ``high_hz=40.0`` (None: none), ``order=4``,   filters.bandpass
                  ``zero_phase=true``
notch             ``freq_hz=50.0``, ``quality=30.0``, ``harmonics=true``, ``zero_phase=true``  filters.notch
resample          ``fs_out`` (required, Hz)                                                   resample.resample
leads             ``leads`` (required: names or indices), ``missing="error"|"zero"|"derive"``  leads.select_leads
fixed_length      ``n_samples`` or ``duration_s`` (exactly one), ``mode="center"|"start"``,  windows.fixed_length
                  ``pad="zero"|"edge"|"wrap"``
zscore            ``per_lead=true``, ``eps=1e-6``                                             normalize.zscore
minmax            ``low=0.0``, ``high=1.0``, ``per_lead=true``, ``eps=1e-6``                  normalize.minmax
robust            ``q_low=25.0``, ``q_high=75.0``, ``per_lead=true``, ``eps=1e-6``            normalize.robust
================  ==========================================================================  ==========
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.atomic import write_json
from leanecg.errors import InvalidOptionError, LeanECGError, MissingDataError
from leanecg.registry import Registry
from leanecg.signal import filters, gaps, normalize, windows
from leanecg.signal import leads as leads_mod
from leanecg.signal.resample import resample, resample_ratio

__all__ = ["FORMAT", "OPS", "VERSION", "Pipeline", "PipelineOutput"]

FORMAT = "leanecg.pipeline"
VERSION = 1

_REQUIRED = object()


@dataclass(frozen=True)
class _Param:
    kind: str  # "float", "int", "bool", "str", "names"
    default: Any = _REQUIRED
    optional: bool = False  # None allowed
    choices: tuple[str, ...] | None = None
    positive: bool = False

    def coerce(self, value: Any, where: str, name: str) -> Any:
        if value is None:
            if self.optional:
                return None
            raise InvalidOptionError("pipeline", f"{where}: {name} must not be null")
        bad = InvalidOptionError("pipeline", f"{where}: {name} must be {self._describe()}, got {value!r}")
        if self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
                raise bad
            out: Any = float(value)
            if not math.isfinite(out) or (self.positive and out <= 0):
                raise bad
            return out
        if self.kind == "int":
            if isinstance(value, bool):
                raise bad
            if isinstance(value, float | np.floating) and float(value).is_integer():
                value = int(value)
            if not isinstance(value, int | np.integer) or (self.positive and value <= 0):
                raise bad
            return int(value)
        if self.kind == "bool":
            if not isinstance(value, bool | np.bool_):
                raise bad
            return bool(value)
        if self.kind == "str":
            if not isinstance(value, str) or (self.choices is not None and value not in self.choices):
                raise bad
            return value
        if self.kind == "names":
            if isinstance(value, str | int) and not isinstance(value, bool):
                value = [value]
            if not isinstance(value, Sequence) or isinstance(value, str) or not value:
                raise bad
            out = []
            for v in value:
                if isinstance(v, str) and v.strip():
                    out.append(v.strip())
                elif isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= 0:
                    out.append(int(v))
                else:
                    raise bad
            return out
        raise AssertionError(f"unknown parameter kind {self.kind}")

    def _describe(self) -> str:
        desc = {
            "float": "a positive number" if self.positive else "a number",
            "int": "a positive integer" if self.positive else "an integer",
            "bool": "true or false",
            "str": "one of " + ", ".join(repr(c) for c in self.choices or ()) if self.choices else "a string",
            "names": "a non-empty list of lead names or non-negative indices",
        }[self.kind]
        return desc + (" or null" if self.optional else "")


@dataclass
class _State:
    x: np.ndarray  # float64 (n, n_leads)
    fs: float
    leads: list[str] | None
    mask: np.ndarray  # bool (n_leads,)


@dataclass(frozen=True)
class _Op:
    params: Mapping[str, _Param]
    run: Callable[[_State, dict[str, Any], str], _State]
    check: Callable[[dict[str, Any], str], None] | None = None


@dataclass
class PipelineOutput:
    """What :meth:`Pipeline.apply` returns.

    Attributes:
        signal: float32 ``(n_samples, n_leads)`` (1-D if the input was 1-D and no ``leads`` step ran).
        fs: sampling rate of ``signal`` in Hz.
        leads: lead names of ``signal``'s columns (``None`` when none were given and no ``leads`` step ran).
        mask: bool ``(n_leads,)``, ``False`` for zero-filled leads.
    """

    signal: np.ndarray
    fs: float
    leads: list[str] | None
    mask: np.ndarray


# ---------------------------------------------------------------------------------------------------
# the ops
# ---------------------------------------------------------------------------------------------------


def _with(state: _State, x: np.ndarray, **changes: Any) -> _State:
    return _State(
        x=x,
        fs=changes.get("fs", state.fs),
        leads=changes.get("leads", state.leads),
        mask=changes.get("mask", state.mask),
    )


def _check_gaps(p: dict[str, Any], where: str) -> None:
    if p["max_gap_s"] is not None and p["max_gap_s"] < 0:
        raise InvalidOptionError(
            "pipeline", f"{where}: max_gap_s must be >= 0 seconds or null, got {p['max_gap_s']:g}"
        )


def _run_gaps(s: _State, p: dict[str, Any], where: str) -> _State:
    return _with(s, gaps.interpolate_gaps(s.x, s.fs, p["max_gap_s"], method=p["method"], leads=s.leads))


def _run_baseline(s: _State, p: dict[str, Any], where: str) -> _State:
    return _with(
        s,
        filters.remove_baseline(
            s.x, s.fs, p["method"], p["cutoff_hz"], order=p["order"], zero_phase=p["zero_phase"]
        ),
    )


def _run_bandpass(s: _State, p: dict[str, Any], where: str) -> _State:
    y = filters.bandpass(s.x, s.fs, p["low_hz"], p["high_hz"], p["order"], zero_phase=p["zero_phase"])
    return _with(s, y)


def _check_order(p: dict[str, Any], where: str) -> None:
    if not 1 <= p["order"] <= 10:
        raise InvalidOptionError("pipeline", f"{where}: order must be from 1 to 10, got {p['order']}")


def _check_bandpass(p: dict[str, Any], where: str) -> None:
    _check_order(p, where)
    if p["low_hz"] is not None and p["low_hz"] < 0:
        raise InvalidOptionError(
            "pipeline", f"{where}: low_hz must be >= 0 (0 or null: no high-pass), got {p['low_hz']:g}"
        )
    if p["low_hz"] is not None and p["high_hz"] is not None and p["low_hz"] >= p["high_hz"]:
        raise InvalidOptionError(
            "pipeline", f"{where}: low_hz ({p['low_hz']:g}) must be below high_hz ({p['high_hz']:g})"
        )


def _run_notch(s: _State, p: dict[str, Any], where: str) -> _State:
    y = filters.notch(s.x, s.fs, p["freq_hz"], p["quality"], p["harmonics"], zero_phase=p["zero_phase"])
    return _with(s, y)


def _run_resample(s: _State, p: dict[str, Any], where: str) -> _State:
    up, down = resample_ratio(s.fs, p["fs_out"])
    return _with(s, resample(s.x, s.fs, p["fs_out"]), fs=s.fs * up / down)


def _run_leads(s: _State, p: dict[str, Any], where: str) -> _State:
    wanted = p["leads"]
    if s.leads is None:
        if any(isinstance(w, str) for w in wanted):
            raise InvalidOptionError(
                "leads", f"{where} selects leads by name; pass the record's lead names (leads=...)"
            )
        names = [str(j) for j in range(s.x.shape[1])]
    else:
        names = s.leads
    y, mask = leads_mod.select_leads(s.x, names, wanted, missing=p["missing"])
    # a zero-filled lead stays unreal; a lead selected from a zero-filled one too
    prior = np.ones(len(wanted), dtype=bool)
    for k, w in enumerate(wanted):
        if mask[k]:
            try:
                prior[k] = bool(s.mask[leads_mod.lead_index(names, w)])
            except LeanECGError:
                prior[k] = True  # derived from limb leads
    out_names = [leads_mod.canonical_lead_name(w if isinstance(w, str) else names[w]) for w in wanted]
    return _with(s, y, leads=out_names, mask=mask & prior)


def _run_fixed_length(s: _State, p: dict[str, Any], where: str) -> _State:
    n = p["n_samples"] if p["n_samples"] is not None else max(1, round(p["duration_s"] * s.fs))
    return _with(s, windows.fixed_length(s.x, n, mode=p["mode"], pad=p["pad"]))


def _check_fixed_length(p: dict[str, Any], where: str) -> None:
    if (p["n_samples"] is None) == (p["duration_s"] is None):
        raise InvalidOptionError("pipeline", f"{where}: give exactly one of n_samples and duration_s")


def _run_zscore(s: _State, p: dict[str, Any], where: str) -> _State:
    return _with(s, normalize.zscore(s.x, per_lead=p["per_lead"], eps=p["eps"]))


def _run_minmax(s: _State, p: dict[str, Any], where: str) -> _State:
    y = normalize.minmax(s.x, feature_range=(p["low"], p["high"]), per_lead=p["per_lead"], eps=p["eps"])
    return _with(s, y)


def _check_minmax(p: dict[str, Any], where: str) -> None:
    if not p["low"] < p["high"]:
        raise InvalidOptionError(
            "pipeline", f"{where}: low ({p['low']:g}) must be below high ({p['high']:g})"
        )


def _run_robust(s: _State, p: dict[str, Any], where: str) -> _State:
    y = normalize.robust(s.x, quantiles=(p["q_low"], p["q_high"]), per_lead=p["per_lead"], eps=p["eps"])
    return _with(s, y)


def _check_robust(p: dict[str, Any], where: str) -> None:
    if not 0.0 <= p["q_low"] < p["q_high"] <= 100.0:
        raise InvalidOptionError("pipeline", f"{where}: needs 0 <= q_low < q_high <= 100")


_ZERO_PHASE = _Param("bool", True)
_PER_LEAD = _Param("bool", True)
_EPS = _Param("float", 1e-6)

_OPS: Registry[_Op] = Registry("op", "pipeline", sort_names=True)
for _name, _op in {
    "interpolate_gaps": _Op(
        {
            "max_gap_s": _Param("float", 0.5, optional=True),
            "method": _Param("str", "linear", choices=("linear", "pchip")),
        },
        _run_gaps,
        _check_gaps,
    ),
    "remove_baseline": _Op(
        {
            "method": _Param("str", "highpass", choices=("highpass", "median")),
            "cutoff_hz": _Param("float", 0.5, positive=True),
            "order": _Param("int", 2, positive=True),
            "zero_phase": _ZERO_PHASE,
        },
        _run_baseline,
        _check_order,
    ),
    "bandpass": _Op(
        {
            "low_hz": _Param("float", 0.5, optional=True),
            "high_hz": _Param("float", 40.0, optional=True, positive=True),
            "order": _Param("int", 4, positive=True),
            "zero_phase": _ZERO_PHASE,
        },
        _run_bandpass,
        _check_bandpass,
    ),
    "notch": _Op(
        {
            "freq_hz": _Param("float", 50.0, positive=True),
            "quality": _Param("float", 30.0, positive=True),
            "harmonics": _Param("bool", True),
            "zero_phase": _ZERO_PHASE,
        },
        _run_notch,
    ),
    "resample": _Op({"fs_out": _Param("float", positive=True)}, _run_resample),
    "leads": _Op(
        {
            "leads": _Param("names"),
            "missing": _Param("str", "error", choices=("error", "zero", "derive")),
        },
        _run_leads,
    ),
    "fixed_length": _Op(
        {
            "n_samples": _Param("int", None, optional=True, positive=True),
            "duration_s": _Param("float", None, optional=True, positive=True),
            "mode": _Param("str", "center", choices=("center", "start")),
            "pad": _Param("str", "zero", choices=("zero", "edge", "wrap")),
        },
        _run_fixed_length,
        _check_fixed_length,
    ),
    "zscore": _Op({"per_lead": _PER_LEAD, "eps": _EPS}, _run_zscore),
    "minmax": _Op(
        {"low": _Param("float", 0.0), "high": _Param("float", 1.0), "per_lead": _PER_LEAD, "eps": _EPS},
        _run_minmax,
        _check_minmax,
    ),
    "robust": _Op(
        {"q_low": _Param("float", 25.0), "q_high": _Param("float", 75.0), "per_lead": _PER_LEAD, "eps": _EPS},
        _run_robust,
        _check_robust,
    ),
}.items():
    _OPS.register(_name, _op)
del _name, _op

#: The op names a pipeline step may use, with their parameter names.
OPS: Mapping[str, tuple[str, ...]] = {name: tuple(op.params) for name, op in _OPS.items()}


def _normalise_step(step: Any, k: int) -> dict[str, Any]:
    if not isinstance(step, Mapping):
        raise InvalidOptionError("pipeline", f"step {k} must be an object with an 'op', got {step!r}")
    op_name = step.get("op")
    if not isinstance(op_name, str) or op_name not in _OPS:
        raise InvalidOptionError("pipeline", f"step {k}: {_OPS.unknown(op_name).problem}")
    op = _OPS[op_name]
    where = f"step {k} ({op_name})"
    unknown = [key for key in step if key != "op" and key not in op.params]
    if unknown:
        raise InvalidOptionError(
            "pipeline",
            f"{where}: unknown parameter {unknown[0]!r}; known: {', '.join(op.params) or '(none)'}",
        )
    out: dict[str, Any] = {"op": op_name}
    for name, spec in op.params.items():
        if name in step:
            out[name] = spec.coerce(step[name], where, name)
        elif spec.default is _REQUIRED:
            raise InvalidOptionError("pipeline", f"{where}: missing required parameter {name!r}")
        else:
            out[name] = copy.deepcopy(spec.default)
    if op.check is not None:
        op.check(out, where)
    return out


class Pipeline:
    """An ordered list of preprocessing steps (module docstring: ops, stored format).

    Args:
        steps: step dicts, e.g. ``[{"op": "bandpass", "low_hz": 0.5, "high_hz": 40}]``. Validated and
            completed with defaults here; an unknown op or parameter raises ``LeanECGError``.

    Example:
        >>> import numpy as np
        >>> steps = [{"op": "bandpass", "low_hz": 0.5, "high_hz": 40}, {"op": "resample", "fs_out": 125}]
        >>> pipe = Pipeline(steps)
        >>> x = np.random.default_rng(0).normal(size=(2500, 2))  # 10 s of 2 leads at 250 Hz
        >>> out = pipe.apply(x, fs=250.0)
        >>> out.signal.shape, out.signal.dtype, out.fs
        ((1250, 2), dtype('float32'), 125.0)
        >>> Pipeline([{"op": "resample", "fs_out": -1}])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        leanecg.errors.InvalidOptionError: pipeline: step 0 (resample): fs_out must be a positive number...
    """

    def __init__(self, steps: Sequence[Mapping[str, Any]] = ()) -> None:
        if isinstance(steps, str | bytes | Mapping) or not isinstance(steps, Sequence):
            raise InvalidOptionError("pipeline", "steps must be a list of step objects")
        self._steps = [_normalise_step(step, k) for k, step in enumerate(steps)]

    # -- inspection ---------------------------------------------------------------------------------

    @property
    def steps(self) -> list[dict[str, Any]]:
        """A copy of the normalised steps."""
        return copy.deepcopy(self._steps)

    def __len__(self) -> int:
        return len(self._steps)

    def __repr__(self) -> str:
        return f"Pipeline({self._steps!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pipeline):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.fingerprint())

    def __add__(self, other: Pipeline) -> Pipeline:
        if not isinstance(other, Pipeline):
            return NotImplemented
        return Pipeline(self._steps + other._steps)

    def output_fs(self, fs: float) -> float:
        """The sampling rate (Hz) the pipeline outputs for input at ``fs`` Hz."""
        fs = filters.check_fs(fs)
        for step in self._steps:
            if step["op"] == "resample":
                up, down = resample_ratio(fs, step["fs_out"])
                fs = fs * up / down
        return fs

    # -- running ------------------------------------------------------------------------------------

    def apply(self, x: np.ndarray, fs: float, leads: Sequence[str] | None = None) -> PipelineOutput:
        """Run the steps on one signal.

        Args:
            x: ``(n_samples, n_leads)`` or ``(n_samples,)`` signal in mV.
            fs: its sampling rate in Hz.
            leads: its lead names (needed by a ``leads`` step that selects by name).

        Returns:
            A :class:`PipelineOutput` (float32 signal, output rate, lead names, real-lead mask).
        """
        fs = filters.check_fs(fs)
        x2, was_1d = filters.check_signal(x, allow_nan=True)
        if leads is not None:
            if isinstance(leads, str) or len(leads) != x2.shape[1]:
                raise LeanECGError("leads", f"{len(leads)} lead names for a signal with {x2.shape[1]} leads")
            leads = [str(name) for name in leads]
        state = _State(np.asarray(x2, dtype=np.float64), fs, leads, np.ones(x2.shape[1], dtype=bool))
        selected = False
        for k, step in enumerate(self._steps):
            params = {key: value for key, value in step.items() if key != "op"}
            state = _OPS[step["op"]].run(state, params, f"step {k} ({step['op']})")
            selected = selected or step["op"] == "leads"
        y = state.x.astype(np.float32)
        if was_1d and not selected:
            y = y[:, 0]
        return PipelineOutput(signal=y, fs=state.fs, leads=state.leads, mask=state.mask.copy())

    def __call__(
        self, x: np.ndarray, fs: float, leads: Sequence[str] | None = None
    ) -> tuple[np.ndarray, float]:
        """Run the steps; returns ``(y, fs_out)`` with ``y`` float32 (see :meth:`apply`)."""
        out = self.apply(x, fs, leads)
        return out.signal, out.fs

    # -- serialisation ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """``{"format": "leanecg.pipeline", "version": 1, "steps": [...]}`` (JSON-able)."""
        return {"format": FORMAT, "version": VERSION, "steps": self.steps}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "pipeline") -> Pipeline:
        """Build from :meth:`to_dict` output (any format version up to :data:`VERSION`)."""
        if not isinstance(data, Mapping):
            raise LeanECGError(source, "a pipeline must be a JSON object with 'version' and 'steps'")
        fmt = data.get("format", FORMAT)
        if fmt != FORMAT:
            raise LeanECGError(source, f"not a LeanECG pipeline (format {fmt!r}, expected {FORMAT!r})")
        version = data.get("version")
        if isinstance(version, bool) or not isinstance(version, int):
            raise LeanECGError(source, "pipeline has no integer 'version' field")
        if version < 1 or version > VERSION:
            raise LeanECGError(
                source,
                f"pipeline format version {version} is not supported (this LeanECG reads 1 to {VERSION}; "
                "a newer version needs a newer LeanECG)",
            )
        extra = sorted(set(data) - {"format", "version", "steps"})
        if extra:
            raise LeanECGError(source, f"unknown pipeline field {extra[0]!r}")
        steps = data.get("steps")
        if not isinstance(steps, list):
            raise LeanECGError(source, "pipeline 'steps' must be a list")
        try:
            return cls(steps)
        except LeanECGError as err:
            if source == "pipeline":
                raise
            raise type(err)(source, err.problem) from None

    def to_json(self, indent: int | None = 2) -> str:
        """The stored format as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "pipeline") -> Pipeline:
        """Parse :meth:`to_json` output."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise LeanECGError(source, f"not valid JSON: {err.msg} at line {err.lineno}") from None
        return cls.from_dict(data, source)

    def save(self, path: str | Path) -> None:
        """Write the JSON to ``path`` atomically."""
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Pipeline:
        """Read a pipeline JSON file."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise MissingDataError(p, "pipeline file not found") from None
        except (OSError, UnicodeDecodeError) as err:
            raise LeanECGError(p, f"cannot read pipeline file: {err}") from None
        return cls.from_json(text, source=str(p))

    def fingerprint(self) -> str:
        """SHA-256 (hex) of the canonical JSON of :meth:`to_dict`; stable across runs and machines."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(canonical.encode("ascii")).hexdigest()
