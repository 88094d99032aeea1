"""Lead names and selection, fixed-length cropping and windows, gap interpolation."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from leanecg.errors import LeanECGError
from leanecg.signal.gaps import find_gaps, interpolate_gaps
from leanecg.signal.leads import (
    LEAD_SETS,
    LIMB_LEADS,
    STANDARD_12,
    canonical_lead_name,
    derive_limb_leads,
    is_standard_lead,
    lead_index,
    select_leads,
)
from leanecg.signal.windows import fixed_length, sliding_windows, window_starts

# --------------------------------------------------------------------------------------- leads


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("I", "I"),
        ("ii", "II"),
        ("AVR", "aVR"),
        ("avr", "aVR"),
        ("aVr", "aVR"),
        ("AVL", "aVL"),
        ("AVF", "aVF"),
        ("MLII", "II"),
        ("ML II", "II"),
        ("MLIII", "III"),
        ("V 1", "V1"),
        ("v6", "V6"),
        ("V01", "V1"),
        ("V4r", "V4R"),
        ("Lead II", "II"),
        ("lead_avf", "aVF"),
        ("DIII", "III"),
        ("D1", "I"),
        (" V5 ", "V5"),
        ("ECG", "ECG"),
        ("noise1", "noise1"),
        ("CM5", "CM5"),
        ("-aVR", "-aVR"),
    ],
)
def test_canonical_lead_name(raw: str, canonical: str) -> None:
    assert canonical_lead_name(raw) == canonical


def test_lead_constants() -> None:
    assert STANDARD_12 == ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
    assert LEAD_SETS["12"] == STANDARD_12
    assert LEAD_SETS["6"] == ("I", "II", "III", "aVR", "aVL", "aVF")
    assert LEAD_SETS["4"] == ("I", "II", "III", "V2")
    assert LEAD_SETS["3"] == ("I", "II", "V2")
    assert LEAD_SETS["2"] == ("I", "II")
    assert LEAD_SETS["1-I"] == ("I",) and LEAD_SETS["1-II"] == ("II",)
    assert all(is_standard_lead(n) for n in ("avl", "MLII", "v3"))
    assert not is_standard_lead("ECG")
    with pytest.raises(LeanECGError, match="empty"):
        canonical_lead_name("  ")


def test_real_header_lead_names_are_canonical(shared_data: Path) -> None:
    """Every lead of the staged PTB-XL, CinC 2021, CPSC 2021 and MIT-BIH headers maps to a standard name."""
    headers = [
        *sorted((shared_data / "ptbxl" / "records100").rglob("*.hea"))[:50],
        *sorted((shared_data / "cinc2021_sample").glob("*.hea")),
        *sorted((shared_data / "cpsc2021_sample").glob("*.hea")),
        *sorted((shared_data / "mitdb").glob("*.hea")),
    ]
    assert len(headers) > 100
    seen: set[str] = set()
    for h in headers:
        lines = [ln for ln in h.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
        n_sig = int(lines[0].split()[1])
        for line in lines[1 : 1 + n_sig]:
            name = re.split(r"\s+", line.strip(), maxsplit=8)[8]
            canon = canonical_lead_name(name)
            assert canon in STANDARD_12, (h.name, name)
            seen.add(canon)
    assert seen == set(STANDARD_12)


def test_lead_index() -> None:
    leads = ["MLII", "V5"]
    assert lead_index(leads, "II") == 0
    assert lead_index(leads, "mlii") == 0
    assert lead_index(leads, "v5") == 1
    assert lead_index(leads, 1) == 1
    assert lead_index(leads, "1") == 1
    assert lead_index(leads, np.int64(0)) == 0
    with pytest.raises(LeanECGError) as err:
        lead_index(leads, "V7", source="mitdb/100")
    assert err.value.path == "mitdb/100"
    assert err.value.problem == "unknown lead 'V7'; this record has: MLII, V5"
    for bad in ("2", 2, -1, "-1"):
        with pytest.raises(LeanECGError, match=r"unknown lead .*indices 0-1"):
            lead_index(leads, bad)
    with pytest.raises(LeanECGError, match="ambiguous"):
        lead_index(["MLII", "II"], "II")
    with pytest.raises(LeanECGError, match="unknown lead"):
        lead_index(leads, True)  # type: ignore[arg-type]


def test_select_leads_error_zero_derive() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 3)).astype(np.float32)
    leads = ["II", "I", "V2"]
    y, mask = select_leads(x, leads, ["I", "II"])
    np.testing.assert_array_equal(y, x[:, [1, 0]])
    assert mask.tolist() == [True, True] and y.dtype == np.float32
    with pytest.raises(LeanECGError, match="unknown lead 'III'; this record has: II, I, V2"):
        select_leads(x, leads, LEAD_SETS["12"])
    y, mask = select_leads(x, leads, LEAD_SETS["4"], missing="zero")
    assert mask.tolist() == [True, True, False, True]
    assert np.all(y[:, 2] == 0)
    np.testing.assert_array_equal(y[:, 3], x[:, 2])
    y, mask = select_leads(x, leads, LEAD_SETS["12"], missing="derive")
    assert mask.tolist() == [True] * 6 + [False, True] + [False] * 4
    np.testing.assert_allclose(y[:, 2], x[:, 0] - x[:, 1], rtol=1e-6)  # III = II - I
    # with a single limb lead nothing can be derived: zero-filled
    y, mask = select_leads(x[:, :1], ["II"], LEAD_SETS["6"], missing="derive")
    assert mask.tolist() == [False, True, False, False, False, False]
    # indices are never "missing"
    with pytest.raises(LeanECGError, match="unknown lead '7'"):
        select_leads(x, leads, [7], missing="zero")
    with pytest.raises(LeanECGError, match="2 lead names for a signal with 3 leads"):
        select_leads(x, ["I", "II"], ["I"])
    y, mask = select_leads(x[:, 0], ["II"], "II")
    assert y.shape == (500, 1)


def test_derive_limb_leads_matches_recorded_ptbxl(shared_data: Path) -> None:
    """PTB-XL stores all 12 leads; the limb leads computed from I and II agree to the ADC resolution."""
    wfdb = pytest.importorskip("wfdb")
    rec = wfdb.rdrecord(str(shared_data / "ptbxl" / "records100" / "00000" / "00001_lr"))
    derived = derive_limb_leads(rec.p_signal, rec.sig_name)
    recorded, mask = select_leads(rec.p_signal, rec.sig_name, LIMB_LEADS)
    assert mask.all()
    np.testing.assert_allclose(derived, recorded, atol=0.002)
    # from II and III only (I recovered as II - III)
    two = select_leads(rec.p_signal, rec.sig_name, ["II", "III"])[0]
    np.testing.assert_allclose(derive_limb_leads(two, ["II", "III"]), recorded, atol=0.004)
    with pytest.raises(LeanECGError, match="two of I, II, III"):
        derive_limb_leads(rec.p_signal[:, 6:], rec.sig_name[6:])


# --------------------------------------------------------------------------------------- windows


def test_fixed_length_crop_modes() -> None:
    x = np.arange(10.0)[:, None] * np.array([1.0, -1.0])
    np.testing.assert_array_equal(fixed_length(x, 4, "center")[:, 0], [3, 4, 5, 6])
    np.testing.assert_array_equal(fixed_length(x, 4, "start")[:, 0], [0, 1, 2, 3])
    a = fixed_length(x, 4, "random", rng=np.random.default_rng(5))
    b = fixed_length(x, 4, "random", rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert a[1, 0] - a[0, 0] == 1 and a.shape == (4, 2)
    starts = {int(fixed_length(x[:, 0], 4, "random", rng=np.random.default_rng(s))[0]) for s in range(60)}
    assert starts == set(range(7))  # every offset 0..6 reachable
    with pytest.raises(LeanECGError, match="rng"):
        fixed_length(x, 4, "random")


def test_fixed_length_padding() -> None:
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(fixed_length(x, 7, "center", "zero"), [0, 0, 1, 2, 3, 0, 0])
    np.testing.assert_array_equal(fixed_length(x, 6, "start", "zero"), [1, 2, 3, 0, 0, 0])
    np.testing.assert_array_equal(fixed_length(x, 6, "start", "edge"), [1, 2, 3, 3, 3, 3])
    np.testing.assert_array_equal(fixed_length(x, 7, "start", "wrap"), [1, 2, 3, 1, 2, 3, 1])
    np.testing.assert_array_equal(fixed_length(x, 3), x)
    y = fixed_length(x.astype(np.float32), 5)
    assert y.dtype == np.float32 and y.shape == (5,)
    with pytest.raises(LeanECGError, match="n_samples"):
        fixed_length(x, 0)
    with pytest.raises(LeanECGError, match="padding"):
        fixed_length(x, 5, pad="reflect")  # type: ignore[arg-type]


def test_sliding_windows_is_a_strided_view() -> None:
    x = np.arange(2 * 24, dtype=np.float64).reshape(24, 2)
    w = sliding_windows(x, win=5, hop=3)
    assert w.shape == (1 + (24 - 5) // 3, 5, 2) == (7, 5, 2)
    assert np.shares_memory(w, x)
    assert not w.flags.writeable
    for k in range(7):
        np.testing.assert_array_equal(w[k], x[3 * k : 3 * k + 5])
    # tail: sample 23 is not covered by "drop"; "pad" adds a zero-padded last window starting at 21
    p = sliding_windows(x, win=5, hop=3, tail="pad")
    assert p.shape == (8, 5, 2)
    np.testing.assert_array_equal(p[7, :3], x[21:24])
    assert np.all(p[7, 3:] == 0)
    np.testing.assert_array_equal(p[:7], w)
    assert sliding_windows(x[:, 0], 5, 5).shape == (4, 5)
    assert sliding_windows(x[:3], 5, 1).shape == (0, 5, 2)
    assert sliding_windows(x[:3], 5, 1, tail="pad").shape == (1, 5, 2)


def test_window_starts_tail_policies() -> None:
    np.testing.assert_array_equal(window_starts(24, 5, 3), [0, 3, 6, 9, 12, 15, 18])
    np.testing.assert_array_equal(window_starts(24, 5, 3, "pad"), [0, 3, 6, 9, 12, 15, 18, 21])
    np.testing.assert_array_equal(window_starts(24, 5, 3, "end"), [0, 3, 6, 9, 12, 15, 18, 19])
    for tail in ("drop", "pad", "end"):  # exactly covered: nothing added
        np.testing.assert_array_equal(window_starts(23, 5, 3, tail), [0, 3, 6, 9, 12, 15, 18])
        np.testing.assert_array_equal(window_starts(20, 5, 5, tail), [0, 5, 10, 15])
    np.testing.assert_array_equal(window_starts(3, 5, 5, "end"), [0])
    with pytest.raises(LeanECGError, match="hop"):
        window_starts(20, 5, 0)


# --------------------------------------------------------------------------------------- gaps


def test_find_gaps() -> None:
    starts, lengths = find_gaps(np.array([1, 1, 0, 0, 1, 0, 1, 1, 1], dtype=bool))
    assert starts.tolist() == [0, 4, 6] and lengths.tolist() == [2, 1, 3]


def test_interpolate_short_gaps_linear_and_pchip() -> None:
    fs = 100.0
    t = np.arange(1000) / fs
    ramp = np.column_stack([2.0 * t, -t + 1.0])
    x = ramp.copy()
    x[100:140, 0] = np.nan  # 0.4 s
    x[500:510, 1] = np.nan
    y = interpolate_gaps(x, fs, max_gap_s=0.5)
    np.testing.assert_allclose(y, ramp, atol=1e-12)  # a line is recovered exactly
    assert np.isnan(x).sum() == 50  # input untouched
    y = interpolate_gaps(x, fs, max_gap_s=0.5, method="pchip")
    np.testing.assert_allclose(y, ramp, atol=1e-9)
    # a gap of exactly max_gap_s is filled
    z = ramp.copy()
    z[200:250, 0] = np.nan
    assert np.isfinite(interpolate_gaps(z, fs, 0.5)).all()


def test_interpolate_edges_are_held() -> None:
    x = np.array([np.nan, np.nan, 1.0, 2.0, 3.0, np.nan])
    np.testing.assert_array_equal(interpolate_gaps(x, 10.0, 0.5), [1, 1, 1, 2, 3, 3])
    np.testing.assert_array_equal(interpolate_gaps(x, 10.0, 0.5, method="pchip"), [1, 1, 1, 2, 3, 3])
    x32 = x.astype(np.float32)
    assert interpolate_gaps(x32, 10.0).dtype == np.float32


def test_interpolate_refuses_long_gaps_with_a_clear_message() -> None:
    fs = 250.0
    x = np.zeros((5000, 2))
    x[250:450, 1] = np.nan  # 0.8 s at t = 1.0 s, lead II
    x[3000:3010, 0] = np.nan
    with pytest.raises(LeanECGError) as err:
        interpolate_gaps(x, fs, max_gap_s=0.5, leads=["I", "II"])
    assert err.value.path == "signal"
    assert err.value.problem == "gap of 0.80 s at t=1.00 s in lead II exceeds max_gap_s=0.5 s"
    with pytest.raises(LeanECGError, match="in lead 1 exceeds"):
        interpolate_gaps(x, fs, max_gap_s=0.5)
    assert np.isfinite(interpolate_gaps(x, fs, max_gap_s=None)).all()
    x[:, 0] = np.nan
    with pytest.raises(LeanECGError, match="lead I has no valid samples"):
        interpolate_gaps(x, fs, max_gap_s=None, leads=["I", "II"])
    with pytest.raises(LeanECGError, match="max_gap_s"):
        interpolate_gaps(x, fs, max_gap_s=-1)


def test_interpolate_is_vectorised_on_a_long_record() -> None:
    """30 minutes at 360 Hz, 2 leads, thousands of short gaps: well under a second."""
    import time

    rng = np.random.default_rng(0)
    n = 650_000
    x = np.sin(np.arange(n) / 50.0)[:, None] * np.ones((1, 2))
    starts = rng.choice(n - 100, size=5000, replace=False)
    for s in starts[:2500]:
        x[s : s + 20, 0] = np.nan
    x[starts[2500:], 1] = np.inf
    longest = max(int(find_gaps(~np.isfinite(x[:, j]))[1].max()) for j in range(2))
    t0 = time.perf_counter()
    y = interpolate_gaps(x, 360.0, max_gap_s=0.5)
    assert time.perf_counter() - t0 < 2.0
    assert np.isfinite(y).all()
    # linear interpolation error bound for sin(t / 50): gap^2 / 8 * max|f''| = gap^2 / (8 * 2500)
    err = np.abs(y - np.sin(np.arange(n) / 50.0)[:, None]).max()
    assert 0 < err <= (longest + 1) ** 2 / 20000


def test_valid_segments_tile_the_record_into_kept_and_skipped_ranges() -> None:
    from leanecg.signal.gaps import valid_segments

    rng = np.random.default_rng(0)
    for _ in range(50):
        valid = rng.random(500) > rng.choice([0.01, 0.05, 0.3])
        kept, skipped = valid_segments(valid, fs=10.0, min_segment_s=2.0)
        spans = sorted(kept + skipped)
        assert spans[0][0] == 0 and spans[-1][1] == 500
        assert all(a < b for a, b in spans) and all(b == c for (_, b), (c, _) in itertools.pairwise(spans))
        for a, b in kept:
            assert valid[a:b].all() and b - a >= 20
            assert (a == 0 or not valid[a - 1]) and (b == 500 or not valid[b])
        for a, b in skipped:  # what is skipped holds no valid run long enough to keep
            _, lengths = find_gaps(valid[a:b])
            assert (lengths < 20).all()
    assert valid_segments(np.ones(30, bool), 10.0, 2.0) == ([(0, 30)], [])
    assert valid_segments(np.zeros(30, bool), 10.0, 2.0) == ([], [(0, 30)])
    assert valid_segments(np.ones(10, bool), 10.0, 2.0) == ([], [(0, 10)])
    with pytest.raises(LeanECGError):
        valid_segments(np.ones((3, 2), bool), 10.0, 1.0)
    with pytest.raises(LeanECGError):
        valid_segments(np.ones(3, bool), 10.0, -1.0)
