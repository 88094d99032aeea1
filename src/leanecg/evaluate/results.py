"""The results schema: one JSON document per (task, model, variant) run.

Every benchmark in LeanECG writes results in this one schema so that runs can be compared across
machines, commits and users. The schema is documented in ``docs/results_schema.md``; this module builds,
validates, reads and writes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from leanecg.atomic import write_json
from leanecg.errors import LeanECGError

SCHEMA = "leanecg.result/1"

REQUIRED_KEYS = ("schema", "task", "model", "primary_metric", "metrics", "cost", "data", "provenance")


def metric_entry(
    value: float, ci_low: float | None = None, ci_high: float | None = None, **extra: Any
) -> dict:
    """A metric with its 95 % confidence interval (``None`` when not computed)."""
    out: dict[str, Any] = {"value": _num(value), "ci_low": _num(ci_low), "ci_high": _num(ci_high)}
    out.update(extra)
    return out


def _num(v: float | None) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if v == v else None  # NaN -> null (JSON has no NaN)


def make_result(
    *,
    task: str,
    model: str,
    primary_metric: str,
    metrics: Mapping[str, Mapping[str, Any]],
    cost: Mapping[str, Any],
    data: Mapping[str, Any],
    provenance: Mapping[str, Any],
    variant: Mapping[str, Any] | None = None,
    family: str | None = None,
    per_class: Mapping[str, Any] | None = None,
    confusion: Mapping[str, Any] | None = None,
    curves: Mapping[str, Any] | None = None,
    train: Mapping[str, Any] | None = None,
    notes: Iterable[str] = (),
    cv: Mapping[str, Any] | None = None,
    calibration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble and validate one result document (see ``docs/results_schema.md``); ``cv``: the
    cross-validation block of ``leanecg bench --cv K`` (:func:`leanecg.bench.cv.run_cv`), when run;
    ``calibration``: temperature, reliability, ECE and decision curves
    (:func:`leanecg.evaluate.calibration.calibration_block`)."""
    result = {
        "schema": SCHEMA,
        "task": task,
        "model": model,
        "family": family,
        "variant": dict(variant or {}),
        "primary_metric": primary_metric,
        "metrics": {k: dict(v) for k, v in metrics.items()},
        "per_class": dict(per_class or {}),
        "confusion": dict(confusion or {}),
        "curves": dict(curves or {}),
        "cost": dict(cost),
        "data": dict(data),
        "train": dict(train or {}),
        "provenance": dict(provenance),
        "notes": list(notes),
    }
    if cv is not None:
        result["cv"] = dict(cv)
    if calibration is not None:
        result["calibration"] = dict(calibration)
    validate_result(result, source="result")
    return result


def validate_result(result: Mapping[str, Any], source: str | Path = "result") -> None:
    """Raise :class:`LeanECGError` if ``result`` does not follow the schema."""
    missing = [k for k in REQUIRED_KEYS if k not in result]
    if missing:
        raise LeanECGError(source, f"not a LeanECG result: missing keys {', '.join(missing)}")
    if result["schema"] != SCHEMA:
        raise LeanECGError(source, f"unsupported result schema {result['schema']!r} (expected {SCHEMA!r})")
    pm = result["primary_metric"]
    if pm not in result["metrics"]:
        raise LeanECGError(source, f"primary metric {pm!r} is not among the metrics")
    for name, entry in result["metrics"].items():
        if not isinstance(entry, Mapping) or "value" not in entry:
            raise LeanECGError(source, f"metric {name!r} must be an object with a 'value'")


def result_filename(model: str, variant: Mapping[str, Any] | None = None) -> str:
    """``<model>.json``, or ``<model>__k=v__k2=v2.json`` for variants (keys sorted)."""
    parts = [model] + [f"{k}={_slug(v)}" for k, v in sorted((variant or {}).items())]
    return "__".join(parts) + ".json"


def _slug(v: Any) -> str:
    s = "+".join(map(str, v)) if isinstance(v, list | tuple) else str(v)
    return "".join(c if c.isalnum() or c in "+-.=" else "_" for c in s)


def save_result(result: Mapping[str, Any], out_dir: str | Path) -> Path:
    """Write ``result`` to ``out_dir/<task>/<result_filename>`` atomically; returns the path."""
    validate_result(result)
    path = Path(out_dir) / str(result["task"]) / result_filename(result["model"], result.get("variant"))
    write_json(path, result)
    return path


def load_results(folder: str | Path) -> list[dict[str, Any]]:
    """Read every result JSON in ``folder`` (sorted by file name); invalid files raise LeanECGError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LeanECGError(folder, "results folder does not exist")
    out = []
    for path in sorted(folder.glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LeanECGError(path, f"not valid JSON ({exc})") from None
        if not isinstance(doc, dict) or doc.get("schema", "").split("/")[0] != SCHEMA.split("/")[0]:
            continue  # other JSON files (e.g. a summary) may live beside results
        validate_result(doc, source=path)
        out.append(doc)
    if not out:
        raise LeanECGError(folder, "no LeanECG result files (*.json) found")
    return out
