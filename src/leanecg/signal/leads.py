"""ECG lead names, lead selection and the reduced-lead sets of the PhysioNet/CinC Challenge 2021.

Canonical spelling: ``I, II, III, aVR, aVL, aVF, V1..V6`` (:data:`STANDARD_12`). Datasets spell them in
many ways; :func:`canonical_lead_name` maps them:

==========================================  ============================
seen in                                     becomes
==========================================  ============================
``AVR``, ``avr``, ``aVr`` (PTB-XL, INCART)  ``aVR`` (same for aVL, aVF)
``MLII``, ``ML II``, ``MLI``, ``MLIII``      ``II``, ``II``, ``I``, ``III``
(MIT-BIH modified limb leads)
``DI``, ``DII``, ``DIII``, ``D1``.. ``D3``  ``I``, ``II``, ``III``
``Lead II``, ``lead_ii``, ``ii``            ``II``
``V 1``, ``v1``, ``V01``, ``V4r``           ``V1``, ``V1``, ``V1``, ``V4R``
==========================================  ============================

Names that are not a standard lead (``ECG`` in CinC 2017, ``noise1`` in NSTDB, Holter ``CM5``, Frank
``X``) are returned trimmed but otherwise unchanged. MIT-BIH's chest leads are modified (Mason-Likar)
``V1``, ``V2``, ``V4``, ``V5`` and keep those names.

Reduced-lead work needs to pick leads, fill the absent ones and know which are real:
:func:`select_leads` returns the selected signal and a boolean mask; ``missing="zero"`` zero-fills
absent leads, ``missing="derive"`` first computes absent limb leads from any two of I, II, III
(:func:`derive_limb_leads`, Einthoven's and Goldberger's equations) and zero-fills only what is left.

Which record lead feeds which model input lead is decided in one place, :func:`choose_leads` (used by
:class:`~leanecg.package.model.ModelPackage`, ``leanecg predict`` / ``beats`` / ``stream`` and their
``--lead``): the leads asked for (``lead="ECG1"``), else the model's leads by name (aliases of
:data:`LEAD_ALIASES` included, case- and spacing-insensitive: ``ml ii``, ``V 1``, ``v1``), else the one
lead of a single-lead record for a single-lead model whatever its name (CinC 2017's ``ECG``, a device's
``ECG1``). The :class:`LeadChoice` it returns says which rule applied.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np

from leanecg.errors import LeanECGError
from leanecg.signal.filters import check_signal, output_dtype

__all__ = [
    "LEAD_ALIASES",
    "LEAD_SETS",
    "LIMB_LEADS",
    "PRECORDIAL_LEADS",
    "SINGLE_LEAD_NAMES",
    "STANDARD_12",
    "LeadChoice",
    "canonical_lead_name",
    "choose_leads",
    "derive_limb_leads",
    "is_standard_lead",
    "lead_index",
    "lead_key",
    "select_leads",
]

LIMB_LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF")
PRECORDIAL_LEADS: tuple[str, ...] = ("V1", "V2", "V3", "V4", "V5", "V6")
STANDARD_12: tuple[str, ...] = LIMB_LEADS + PRECORDIAL_LEADS

#: The lead sets of the PhysioNet/CinC Challenge 2021 ("Will two do?"), plus single-lead I and II.
LEAD_SETS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "12": STANDARD_12,
        "6": LIMB_LEADS,
        "4": ("I", "II", "III", "V2"),
        "3": ("I", "II", "V2"),
        "2": ("I", "II"),
        "1-I": ("I",),
        "1-II": ("II",),
    }
)

#: The lead alias table: canonical name -> spellings that mean the same lead. Matching ignores case,
#: spaces and ``_`` (``ml ii`` is ``MLII``); :func:`canonical_lead_name` also reads the general
#: patterns of the module docstring (``V01``, ``Lead aVF``, ...). ``MLII`` is MIT-BIH's modified lead II.
LEAD_ALIASES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "I": ("Lead I", "lead1", "MLI", "DI", "D1"),
        "II": ("MLII", "ML II", "Lead II", "lead2", "DII", "D2"),
        "III": ("MLIII", "Lead III", "lead3", "DIII", "D3"),
        "aVR": ("AVR", "Lead aVR"),
        "aVL": ("AVL", "Lead aVL"),
        "aVF": ("AVF", "Lead aVF"),
        **{v: (f"V0{v[1]}", f"Lead {v}") for v in ("V1", "V2", "V3", "V4", "V5", "V6")},
    }
)

#: Names single-lead devices give their one lead (CinC 2017 / AliveCor ``ECG``, Holter and patch ``ECG1``,
#: ``EKG``, ``signal``): not a standard lead, so they match no model lead by name; :func:`choose_leads`
#: feeds such a record's only lead to a single-lead model (any single lead, in fact), and records that.
SINGLE_LEAD_NAMES: tuple[str, ...] = ("ECG", "ECG1", "EKG", "EKG1", "signal")

_ROMAN = {"I": "I", "II": "II", "III": "III", "1": "I", "2": "II", "3": "III"}
_AUGMENTED = {"AVR": "aVR", "AVL": "aVL", "AVF": "aVF"}
_CHEST = re.compile(r"V0*([1-9][0-9]?)(R?)")
_INDEX = re.compile(r"[+-]?[0-9]+")


def canonical_lead_name(name: str) -> str:
    """The canonical spelling of a lead name (module docstring); non-standard names come back trimmed.

    Raises:
        LeanECGError: for an empty name or a non-string.
    """
    if not isinstance(name, str):
        raise LeanECGError("lead", f"lead name must be a string, got {name!r}")
    trimmed = " ".join(name.split())
    if not trimmed:
        raise LeanECGError("lead", "empty lead name")
    key = re.sub(r"[\s_]+", "", trimmed).upper()
    if _alias_key(key) in _ALIASES:
        return _ALIASES[_alias_key(key)]
    if key.startswith("LEAD") and len(key) > 4:
        key = key[4:]
    if key in ("I", "II", "III"):
        return key
    if key in _AUGMENTED:
        return _AUGMENTED[key]
    for prefix in ("ML", "D"):
        if key.startswith(prefix) and key[len(prefix) :] in _ROMAN:
            return _ROMAN[key[len(prefix) :]]
    m = _CHEST.fullmatch(key)
    if m:
        return f"V{int(m.group(1))}{m.group(2)}"
    return trimmed


def _alias_key(name: str) -> str:
    return re.sub(r"[\s_]+", "", name).upper()


_ALIASES: dict[str, str] = {
    _alias_key(alias): canon for canon, aliases in LEAD_ALIASES.items() for alias in (canon, *aliases)
}


def lead_key(name: str) -> str:
    """What two lead names are compared by: the canonical name of a standard lead (``ml ii`` -> ``II``),
    else the name upper-cased without spaces or ``_`` (``ecg 1`` -> ``ECG1``)."""
    canon = canonical_lead_name(name)
    return canon if canon in STANDARD_12 else _alias_key(canon)


def is_standard_lead(name: str) -> bool:
    """Whether ``name`` is one of the standard 12 leads in any spelling."""
    return canonical_lead_name(name) in STANDARD_12


def _names(leads: Sequence[str]) -> str:
    return ", ".join(str(n) for n in leads) if len(leads) else "(no leads)"


def _lookup(leads: Sequence[str], lead: str | int, source: str) -> int | None:
    """Column of ``lead``; ``None`` for a well-formed name the record lacks; raises otherwise."""
    n = len(leads)
    if isinstance(lead, bool):
        raise LeanECGError(source, f"unknown lead {lead!r}; this record has: {_names(leads)}")
    if isinstance(lead, int | np.integer) or (isinstance(lead, str) and _INDEX.fullmatch(lead.strip())):
        i = int(lead)
        if not 0 <= i < n:
            has = f"this record has: {_names(leads)} (indices 0-{n - 1})" if n else "this record has no leads"
            raise LeanECGError(source, f"unknown lead '{str(lead).strip()}'; {has}")
        return i
    if not isinstance(lead, str):
        raise LeanECGError(source, f"a lead is a name or an index, got {lead!r}")
    target = lead_key(lead)
    hits = [i for i, name in enumerate(leads) if lead_key(str(name)) == target]
    if len(hits) > 1:
        raise LeanECGError(
            source, f"lead '{lead.strip()}' is ambiguous: columns {hits} of {_names(leads)} all mean {target}"
        )
    return hits[0] if hits else None


def lead_index(leads: Sequence[str], lead: str | int, source: str = "lead") -> int:
    """Column of ``lead`` in a record whose columns are named ``leads``.

    Args:
        leads: the record's lead names, one per column (any spelling).
        lead: a lead name in any spelling (``"MLII"`` finds ``"II"`` and vice versa), or a column
            index: an int or an int-like string such as ``"0"``.
        source: the file or argument named in errors.

    Returns:
        The column index, ``0 <= i < len(leads)``.

    Raises:
        LeanECGError: ``"unknown lead 'V7'; this record has: MLII, V5"`` for an unknown name or an
            out-of-range index, or when the name matches several columns.
    """
    i = _lookup(leads, lead, source)
    if i is None:
        raise LeanECGError(source, f"unknown lead '{str(lead).strip()}'; this record has: {_names(leads)}")
    return i


def _check_leads(x2: np.ndarray, leads: Sequence[str], source: str) -> None:
    if isinstance(leads, str):
        raise LeanECGError(source, "leads must be a list of names, one per column, not a single string")
    if len(leads) != x2.shape[1]:
        raise LeanECGError(source, f"{len(leads)} lead names for a signal with {x2.shape[1]} leads")


def _limb_from_i_ii(lead_i: np.ndarray, lead_ii: np.ndarray) -> np.ndarray:
    """``(n, 6)`` I, II, III, aVR, aVL, aVF from leads I and II (Einthoven, Goldberger)."""
    return np.stack(
        [
            lead_i,
            lead_ii,
            lead_ii - lead_i,  # III = II - I
            -(lead_i + lead_ii) / 2.0,  # aVR
            lead_i - lead_ii / 2.0,  # aVL
            lead_ii - lead_i / 2.0,  # aVF
        ],
        axis=1,
    )


def derive_limb_leads(x: np.ndarray, leads: Sequence[str], source: str = "signal") -> np.ndarray:
    """The six limb leads computed from any two of I, II and III.

    Einthoven: ``III = II - I``. Goldberger: ``aVR = -(I + II) / 2``, ``aVL = I - II / 2``,
    ``aVF = II - I / 2``. When I (or II) is absent it is first recovered as ``II - III`` (``I + III``).
    Recorded augmented leads are not used: the result is exactly what the equations give.

    Args:
        x: ``(n_samples, n_leads)`` signal in mV (finite).
        leads: its lead names, one per column (any spelling).
        source: the file or argument named in errors.

    Returns:
        ``(n_samples, 6)`` array in mV, columns :data:`LIMB_LEADS` (``I, II, III, aVR, aVL, aVF``).

    Raises:
        LeanECGError: when fewer than two of I, II, III are present.
    """
    x2, _ = check_signal(x, source)
    _check_leads(x2, leads, source)
    dtype = output_dtype(x)
    canon = [canonical_lead_name(str(n)) for n in leads]
    cols = {name: canon.index(name) for name in ("I", "II", "III") if name in canon}
    xf = np.asarray(x2, dtype=np.float64)
    if "I" in cols and "II" in cols:
        lead_i, lead_ii = xf[:, cols["I"]], xf[:, cols["II"]]
    elif "I" in cols and "III" in cols:
        lead_i = xf[:, cols["I"]]
        lead_ii = lead_i + xf[:, cols["III"]]
    elif "II" in cols and "III" in cols:
        lead_ii = xf[:, cols["II"]]
        lead_i = lead_ii - xf[:, cols["III"]]
    else:
        raise LeanECGError(
            source, f"deriving limb leads needs two of I, II, III; this record has: {_names(leads)}"
        )
    return _limb_from_i_ii(lead_i, lead_ii).astype(dtype, copy=False)


def select_leads(
    x: np.ndarray,
    leads: Sequence[str],
    wanted: Sequence[str | int] | str,
    missing: Literal["error", "zero", "derive"] = "error",
    source: str = "signal",
) -> tuple[np.ndarray, np.ndarray]:
    """Pick leads by name or index, in the order wanted.

    Args:
        x: ``(n_samples, n_leads)`` (or ``(n_samples,)`` with one lead name) signal in mV.
        leads: its lead names, one per column (any spelling).
        wanted: lead names or indices, e.g. ``LEAD_SETS["2"]``; a single string is one lead.
        missing: what to do with a wanted *name* the record lacks: ``"error"`` raises,
            ``"zero"`` fills a zero column, ``"derive"`` computes absent limb leads from two of I, II, III
            when possible and zero-fills the rest. Out-of-range indices always raise.
        source: the file or argument named in errors.

    Returns:
        ``(y, mask)``: ``y`` is ``(n_samples, len(wanted))`` in ``x``'s floating dtype (always 2-D),
        ``mask`` a boolean ``(len(wanted),)``, ``True`` where the column holds signal (recorded or
        derived), ``False`` where it was zero-filled.
    """
    if missing not in ("error", "zero", "derive"):
        raise LeanECGError("missing", f"unknown policy {missing!r}; use 'error', 'zero' or 'derive'")
    x2, _ = check_signal(x, source)
    _check_leads(x2, leads, source)
    dtype = output_dtype(x)
    items = [wanted] if isinstance(wanted, str | int | np.integer) else list(wanted)
    if not items:
        raise LeanECGError(source, "no leads wanted")

    n = x2.shape[0]
    y = np.zeros((n, len(items)), dtype=dtype)
    mask = np.zeros(len(items), dtype=bool)
    derived: np.ndarray | None = None
    can_derive = True
    for k, item in enumerate(items):
        i = _lookup(leads, item, source)
        if i is not None:
            y[:, k] = x2[:, i]
            mask[k] = True
            continue
        if missing == "error":
            lead_index(leads, item, source)  # raises the "unknown lead" error
        target = canonical_lead_name(str(item))
        if missing == "derive" and target in LIMB_LEADS and can_derive:
            if derived is None:
                try:
                    derived = derive_limb_leads(x2, leads, source)
                except LeanECGError:
                    can_derive = False
                    continue
            y[:, k] = derived[:, LIMB_LEADS.index(target)]
            mask[k] = True
    return y, mask


# ------------------------------------------------------------------------------- record lead -> model lead

_RULES = {
    "lead": "chosen with --lead",
    "name": "by name",
    "single": "the record's only lead",
    "position": "in the record's order",
    "pipeline": "the whole record; the model's pipeline picks or derives its leads",
}


@dataclass(frozen=True)
class LeadChoice:
    """Which record leads feed a model's input leads (:func:`choose_leads`).

    Attributes:
        columns: the record's columns, one per model input lead, in the model's order.
        record_leads: their names in the record.
        model_leads: the model's input leads they feed (the record's names for a model that names none).
        rule: ``"lead"`` (asked for: ``--lead`` / ``lead=``), ``"name"`` (the model's leads found by name or
            alias), ``"single"`` (the only lead of a single-lead record, for a single-lead model) or
            ``"position"`` (a model that names no leads takes the record's, in order); ``"pipeline"``
            (:func:`leanecg.package.model.model_lead_choice`: the model's pipeline derives its leads).
    """

    columns: tuple[int, ...]
    record_leads: tuple[str, ...]
    model_leads: tuple[str, ...]
    rule: str

    def __str__(self) -> str:
        pairs = ", ".join(f"{r} -> {m}" for r, m in zip(self.record_leads, self.model_leads, strict=True))
        return f"{pairs} ({_RULES.get(self.rule, self.rule)})"

    def as_dict(self) -> dict[str, object]:
        """JSON form: ``{"record_leads": [...], "model_leads": [...], "rule": ...}``."""
        return {
            "record_leads": list(self.record_leads),
            "model_leads": list(self.model_leads),
            "rule": self.rule,
        }


def _parse_lead_option(lead: str | int | Sequence[str | int]) -> list[str | int]:
    if isinstance(lead, str):
        return [part.strip() for part in lead.split(",") if part.strip()]
    if isinstance(lead, int | np.integer) and not isinstance(lead, bool):
        return [int(lead)]
    return [p.strip() if isinstance(p, str) else p for p in lead]


def choose_leads(
    record_leads: Sequence[str],
    model_leads: Sequence[str],
    *,
    n_leads: int | None = None,
    lead: str | int | Sequence[str | int] | None = None,
    source: str = "record",
) -> LeadChoice:
    """The one rule for which record lead feeds which model input lead.

    1. ``lead`` given (``"ECG1"``, ``"I,II"``, a list of names or column indices): exactly those leads, in
       the model's order; there must be one per model lead and the record must have each.
    2. else every model lead found in the record by name (:func:`lead_key`: aliases, any case or spacing).
    3. else a single-lead record for a single-lead model: its one lead, whatever its name (CinC 2017's
       ``ECG`` for a model that wants ``II``).
    4. else, for a model that names no leads, a record with exactly its number of leads, in order.

    Args:
        record_leads: the record's lead names, one per column.
        model_leads: the model's input lead names in order (empty when the model names none).
        n_leads: the model's number of input leads (default ``len(model_leads)``).
        lead: the record leads asked for, or ``None`` for rules 2-4.
        source: the record's file, named in errors.

    Raises:
        LeanECGError: ``"the model needs lead(s) II; the record has ECG1, ECG2 (choose one with `lead`)"``
            when no rule applies; for ``lead``, a lead the record lacks (listing the record's leads) or
            the wrong number of leads.
    """
    rec = [str(n) for n in record_leads]
    wanted = [str(n) for n in model_leads]
    n = len(wanted) if n_leads is None else int(n_leads)
    if wanted and len(wanted) != n:
        wanted = []
    need = ", ".join(wanted) if wanted else f"{n} lead(s)"

    def done(cols: list[int], rule: str) -> LeadChoice:
        names = tuple(rec[i] for i in cols)
        return LeadChoice(tuple(cols), names, tuple(wanted) if wanted else names, rule)

    if lead is not None:
        items = _parse_lead_option(lead)
        if len(items) != n:
            given = ", ".join(str(i) for i in items) or "none"
            raise LeanECGError(
                source, f"`lead` names {len(items)} lead(s) ({given}); the model takes {n} ({need})"
            )
        cols = []
        for item in items:
            i = _lookup(rec, item, source)
            if i is None:
                raise LeanECGError(
                    source, f"`lead` {str(item).strip()}: the record has no such lead; it has {_names(rec)}"
                )
            cols.append(i)
        return done(cols, "lead")
    if wanted:
        found = [_lookup(rec, w, source) for w in wanted]
        if all(i is not None for i in found):
            return done([int(i) for i in found if i is not None], "name")
    if n == 1 and len(rec) == 1:
        return done([0], "single")
    if not wanted and len(rec) == n:
        return done(list(range(n)), "position")
    how = "one" if n == 1 else str(n)
    raise LeanECGError(
        source,
        f"the model needs lead(s) {need}; the record has {_names(rec)} (choose {how} with `lead`)",
    )
