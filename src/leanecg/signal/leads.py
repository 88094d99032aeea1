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
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Literal

import numpy as np

from leanecg.errors import LeanECGError
from leanecg.signal.filters import check_signal, output_dtype

__all__ = [
    "LEAD_SETS",
    "LIMB_LEADS",
    "PRECORDIAL_LEADS",
    "STANDARD_12",
    "canonical_lead_name",
    "derive_limb_leads",
    "is_standard_lead",
    "lead_index",
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
    target = canonical_lead_name(lead)
    hits = [i for i, name in enumerate(leads) if canonical_lead_name(str(name)) == target]
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
