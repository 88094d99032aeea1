"""``mitdb-aami``: MIT-BIH beat classification N/S/V/F, trained on DS1, tested on DS2.

Protocol (inter-patient, de Chazal et al. 2004): the 22 DS1 records train, the 22 DS2 records test; no
DS2 beat is seen in training or in any choice of recipe, feature or model. Recipes are chosen by
leave-records-out cross-validation over DS1 (``leanecg bench mitdb-aami --cv 5``,
``benchmarks/beat_ablation.py``); DS2 is scored once per finished recipe. Beats are the reference
annotation positions (classification-only evaluation, as in the literature); Q beats are excluded; F
(fusion) beats are their own class.

Inputs (one function for training and inference, :func:`leanecg.signal.beats.beat_model_inputs`), all
computable online with bounded look-ahead, so a stream gets exactly the training inputs:

* signal: lead II (MLII; any single lead with ``--lead``), 0.5-40 Hz band-pass, resampled to 180 Hz; no
  record-wide normalisation (``beatnet`` normalises each window itself, ``input_norm``). A 128 Hz Holter
  loses nothing the band-pass keeps, so no resampling augmentation is needed for such devices;
* window: 0.25 s before to 0.45 s after the R peak (126 samples);
* beat features (:attr:`MitdbAamiTask.feature_names`): the RR intervals before / after the beat, local
  RR, the running mean RR so far and the three ratios to it (the patient's own rhythm); optionally the
  rhythm context (``rr_context``; :data:`~leanecg.signal.beats.RR_CONTEXT_FEATURE_NAMES`: prematurity
  against the local rhythm, the compensatory pause, the irregularity of the last 10 RR intervals, which
  tells atrial fibrillation from ectopy); optionally the RR intervals against running medians of the
  rhythm (``rr_medians``; :data:`~leanecg.signal.beats.RR_MEDIAN_FEATURE_NAMES`: short, long and previous-beats
  medians, which ectopic runs and pauses do not pull); and the beat's morphology against the causal running template (median of the previous
  64 beats): correlation (whole window, QRS, P-wave region), RMS difference, amplitude and QRS-length
  ratios; optionally (``template_diff``; :data:`~leanecg.signal.beats.TEMPLATE_DIFF_FEATURE_NAMES`) the beat
  minus that template averaged over 20 parts of the window, in units of the template's QRS amplitude;
  optionally (``record_z``, ``record_z_only``; :data:`~leanecg.signal.beats.RECORD_Z_FEATURE_NAMES`) the RR,
  rhythm-context and template columns against the record's own median and interquartile range, or
  (``record_zn``; :data:`~leanecg.signal.beats.RECORD_ZN_FEATURE_NAMES`) against its non-premature beats: the
  only inputs that read the whole record (a stream reads the beats so far).

Training recipe (the task's defaults, the v1 recipe: the ``beatnet`` shipped alone, then inside the shipped pair
until 2026-12-07): class-balanced cross-entropy on 14 DS1 records, up to
20 epochs with early stopping on the sveb_veb_f1 of ``n_val_records`` = 8 seeded DS1 validation records
(seed 0: 101, 112, 115, 118, 119, 205, 209, 223). Switchable ingredients, each a task attribute and a row of
``benchmarks/results/beat_ablation.md`` (DS1 cross-validation and DS2): ``train_uses_val = False`` (all 22
DS1 records train for a fixed budget, 10 epochs in the ablation, the last kept; ``val`` is then 8 of them, reported
only), ``rr_context`` (the rhythm-context columns), ``rr_medians`` (the running-median columns), ``templates``,
``template_diff`` (the template-difference columns), ``record_z`` / ``record_z_only`` (the columns against the
record's own median and IQR), ``record_zn`` (against its non-premature beats), ``thinned_copies`` (every training
part also holds a thinned copy of each of its ectopy-rich records, :mod:`leanecg.tasks.ectopy_mix`), ``extra_af_beats`` (the N beats of cinc2017's AF records
added to every training part, :meth:`MitdbAamiTask.af_beats`, never scored),
``second_lead`` (MLII + the record's other lead as a second input channel, with ``lead_dropout`` training a
one-lead fallback, measured in the ablation by zeroing the second channel; a saved two-lead package takes both
leads, e.g. ``--lead MLII,V5``), and the augmentations of
:func:`beat_augment_batch_loss` (RR-interval scaling and R-peak jitter: ``rr_scale``, ``max_shift``;
polarity flips and noise for other leads and devices: ``flip_p``, ``noise``; real ambulatory noise from NSTDB:
``real_noise_p``); class-balanced sampling instead of the class-weighted loss (``balanced_sampling``); weight averaging over the
last epochs of fixed-budget training (``average_epochs``,
:mod:`leanecg.train.averaging`); and ensemble distillation (``distill_teachers``,
:class:`~leanecg.tasks.base.BenchTask`). In that cross-validation (3 seeds; early
stopping on an inner validation part of each fold's training records) none of them beats the plain recipe
by more than the spread over seeds, which is why they are off (real noise included: CV 47.7 ± 0.9 against
48.0 ± 1.7).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from leanecg.data.nstdb import load_noise
from leanecg.errors import LeanECGError
from leanecg.evaluate.metrics import confusion, per_class_from_confusion
from leanecg.signal.beats import (
    RECORD_Z_FEATURE_NAMES,
    RECORD_ZN_FEATURE_NAMES,
    RR_CONTEXT_FEATURE_NAMES,
    RR_FEATURE_NAMES,
    RR_MEDIAN_FEATURE_NAMES,
    TEMPLATE_DIFF_FEATURE_NAMES,
    TEMPLATE_FEATURE_NAMES,
    beat_model_inputs,
    select_beat_features,
)
from leanecg.signal.filters import bandpass
from leanecg.signal.pipeline import Pipeline
from leanecg.signal.polarity import orient_windows, record_polarity
from leanecg.signal.resample import resample
from leanecg.tasks.base import BenchTask, TaskData, load_signals
from leanecg.tasks.ectopy_mix import MIN_ECTOPIC, N_SHARE, with_thinned_copies
from leanecg.tasks.preprocess import BAND_HZ, task_pipeline
from leanecg.train.datasets import ArraySplit
from leanecg.train.train_config import TrainConfig
from leanecg.train.trainer import BatchLoss

#: Columns of the beat features in seconds (the RR intervals; the ratios and template features are unitless).
RR_SECONDS_COLUMNS: tuple[int, ...] = tuple(
    i for i, n in enumerate(RR_FEATURE_NAMES) if not n.endswith("_ratio")
)


def beat_augment_batch_loss(
    columns: Sequence[int],
    max_log_scale: float,
    max_shift: int,
    seed: int,
    flip_p: float = 0.0,
    noise: float = 0.0,
    lead_dropout: float = 0.0,
    real_noise: np.ndarray | None = None,
    real_noise_p: float = 0.0,
    real_noise_snr_db: tuple[float, float] = (6.0, 24.0),
) -> BatchLoss:
    """A ``batch_loss`` for :func:`~leanecg.train.trainer.fit` with heart-rate and R-peak-position jitter.

    Heart rate: each training beat's feature ``columns`` (RR intervals in seconds) are multiplied by one
    factor ``exp(u)``, ``u ~ U(-max_log_scale, max_log_scale)`` (e.g. 0.5: x0.61 .. x1.65). Position: the
    batch's windows ``x: (B, n_leads, n_samples)`` are rolled by one random ``k`` in ``[-max_shift,
    max_shift]`` samples (R-peak annotation jitter). The loss is ``criterion(model(x, features=scaled), y)``;
    batches without features only get the shift. Transfer to other devices and leads: each window's sign is
    flipped with probability ``flip_p`` (lead polarity) and Gaussian noise of ``noise`` times the window's
    own standard deviation is added (a per-beat draw). The beat features are left as they are: the
    template features are invariant to polarity, and the RR features do not see the noise. One-lead
    fallback of a multi-lead model: with probability ``lead_dropout`` a window's leads after the first are
    zeroed (a per-beat draw), as the ablation's one-lead fallback rows feed a record without them.
    Ambulatory noise: with probability ``real_noise_p`` a window gets a random segment of a real noise
    recording (``real_noise``: ``(m, n_channels)`` at the windows' rate, e.g. NSTDB baseline wander and muscle
    artefact, one random channel per window and the same segment on every lead) scaled to an SNR drawn
    uniformly from ``real_noise_snr_db`` against each lead's own standard deviation in the window.

    Args:
        columns: indices of the feature columns to scale (e.g. :data:`RR_SECONDS_COLUMNS`).
        max_log_scale: half-width of the uniform log-scale range (>= 0; 0: no scaling).
        max_shift: largest shift in samples (>= 0; 0: no shift).
        seed: seeds the draws (one torch generator: reproducible runs).
    """
    if not max_log_scale >= 0 or int(max_shift) < 0:
        raise ValueError(f"need max_log_scale >= 0 and max_shift >= 0, got {max_log_scale!r}, {max_shift!r}")
    if not (0 <= flip_p <= 1 and noise >= 0 and 0 <= lead_dropout <= 1 and 0 <= real_noise_p <= 1):
        raise ValueError(
            f"need 0 <= flip_p, lead_dropout, real_noise_p <= 1 and noise >= 0, got {flip_p!r}, "
            f"{lead_dropout!r}, {real_noise_p!r}, {noise!r}"
        )
    snr_lo, snr_hi = (float(v) for v in real_noise_snr_db)
    if not snr_lo <= snr_hi:
        raise ValueError(f"real_noise_snr_db must be (low, high) with low <= high, got {real_noise_snr_db!r}")
    noise_t = None
    if real_noise_p > 0:
        if real_noise is None or np.ndim(real_noise) != 2 or not np.isfinite(real_noise).all():
            raise ValueError("real_noise_p > 0 needs real_noise: finite (n_samples, n_channels) noise")
        noise_t = torch.as_tensor(np.asarray(real_noise, dtype=np.float32))
    gen = torch.Generator().manual_seed(int(seed) + 123)
    cols = list(columns)

    def batch_loss(model: nn.Module, batch: dict[str, torch.Tensor], criterion: nn.Module) -> torch.Tensor:
        x, feats = batch["x"], batch.get("features")
        if feats is not None and max_log_scale > 0:
            u = torch.rand(feats.shape[0], 1, generator=gen).to(feats.device)
            feats = feats.clone()
            feats[:, cols] = feats[:, cols] * torch.exp((u * 2 - 1) * max_log_scale)
        if max_shift > 0:
            k = int(torch.randint(-int(max_shift), int(max_shift) + 1, (1,), generator=gen))
            x = torch.roll(x, k, dims=-1)
        if flip_p > 0:
            sign = torch.where(torch.rand(x.shape[0], 1, 1, generator=gen) < flip_p, -1.0, 1.0)
            x = x * sign.to(x.device, x.dtype)
        if noise > 0:
            scale = noise * x.std(dim=-1, keepdim=True)
            x = x + torch.randn(x.shape, generator=gen).to(x.device, x.dtype) * scale
        if noise_t is not None:
            x = _add_real_noise(x, noise_t, real_noise_p, snr_lo, snr_hi, gen)
        if lead_dropout > 0 and x.shape[1] > 1:
            keep = (torch.rand(x.shape[0], 1, 1, generator=gen) >= lead_dropout).to(x.device, x.dtype)
            x = torch.cat([x[:, :1], x[:, 1:] * keep], dim=1)
        logits = model(x) if feats is None else model(x, features=feats)
        return criterion(logits, batch["y"])

    return batch_loss


def _add_real_noise(
    x: torch.Tensor, noise: torch.Tensor, p: float, snr_lo: float, snr_hi: float, gen: torch.Generator
) -> torch.Tensor:
    """``x: (B, n_leads, L)`` with a random real-noise segment added to a ``p`` share of the windows
    (:func:`beat_augment_batch_loss`); the others are returned unchanged."""
    b, _, n = x.shape
    m, n_channels = noise.shape
    picked = torch.nonzero(torch.rand(b, generator=gen) < p).flatten()
    if picked.numel() == 0 or m <= n:
        return x
    k = picked.numel()
    start = torch.randint(0, m - n, (k,), generator=gen)
    channel = torch.randint(0, n_channels, (k,), generator=gen)
    segment = noise[start[:, None] + torch.arange(n), channel[:, None]]  # (k, L)
    segment = segment - segment.mean(dim=-1, keepdim=True)
    segment = segment / segment.std(dim=-1, keepdim=True).clamp_min(1e-8)
    snr_db = snr_lo + (snr_hi - snr_lo) * torch.rand(k, generator=gen)
    windows = x[picked.to(x.device)]
    scale = windows.std(dim=-1, keepdim=True) * (10.0 ** (-snr_db / 20.0)).to(x)[:, None, None]
    out = x.clone()
    out[picked.to(x.device)] = windows + segment.to(x)[:, None, :] * scale
    return out


#: :meth:`MitdbAamiTask.af_beats`: a record's first beats dropped (the RR-context window, 10 intervals, fills)
AF_SKIP_BEATS = 10
#: :meth:`MitdbAamiTask.af_beats`: least QRS correlation with the running template for a beat to count as N
AF_MIN_QRS_CORR = 0.9


class MitdbAamiTask(BenchTask):
    name = "mitdb-aami"
    description = "MIT-BIH beat classification N/S/V/F, train DS1 -> test DS2 (de Chazal, inter-patient)"
    dataset = "mitdb"
    class_names = ("N", "S", "V", "F")
    primary_metric = "sveb_veb_f1"
    default_models = ("beatnet", "resnet1d", "lightgbm")
    classic_models = ("lightgbm",)
    # up to 20 epochs, early stopping on the 8 validation records (patience 5); the fixed-budget variants
    # (train_uses_val False, all 22 DS1 records) use 10 epochs (8 and 16 cross-validated alike)
    train_epochs, train_batch_size, train_patience = 20, 256, 5
    fs_model = 180.0
    before_s = 0.25
    after_s = 0.45
    n_val_records = 8
    template_history = 64  # beats in the causal running template (beat_model_inputs' default)
    rr_scale = 0.0  # max |log factor| on the RR seconds (beat_augment_batch_loss); 0: off (module docstring)
    max_shift = 0  # R-peak position jitter of the training windows, samples; 0: off
    # recipe ingredients (each switchable; benchmarks/beat_ablation.py measures them)
    # The defaults are the v1 recipe, chosen by DS1 cross-validation over the network rows of
    # benchmarks/beat_ablation.py (no single-network ingredient below beat it there; see the module docstring).
    # The shipped model since 2026-12-07 (eighth session) is the ablation's '+ thinned copies' pair
    # (train_uses_val False, rr_context True; a beatnet with record_z True and thinned_copies True, and the
    # zoo's `linear` on the 17 columns, averaged), chosen by benchmarks/record_reference_screen.py --candidate
    # balanced; the '+ record-normalised columns + linear member' pair (the same without thinned copies) before
    # it, chosen by benchmarks/record_z_screen.py with the AF gate.
    train_uses_val = True  # False: all 22 DS1 records train for a fixed epoch budget (no early stopping)
    rr_context = False  # the RR_CONTEXT_FEATURE_NAMES columns (prematurity vs local rhythm, irregularity)
    rr_medians = False  # the RR_MEDIAN_FEATURE_NAMES columns (RR against running medians of the rhythm)
    templates = True  # the TEMPLATE_FEATURE_NAMES columns (morphology against the running median beat)
    # the TEMPLATE_DIFF_FEATURE_NAMES columns: the beat minus the running median beat at a reduced rate, in
    # units of that template's QRS amplitude (where the beat differs, not only how much)
    template_diff = False
    flip_p = 0.0  # probability of a training window's polarity flip (transfer to other leads); 0: off
    noise = 0.0  # Gaussian noise added to training windows, x the window's standard deviation; 0: off
    # both MIT-BIH leads: MLII + the record's other lead (V1 in 40 of the 48 records, V2 / V4 / V5 in the
    # others), fed as the input lead "V1"; lead_dropout trains the model to do without it
    second_lead = False
    lead_dropout = 0.0  # probability of zeroing a training window's second lead (trains the fallback); 0: off
    # ambulatory noise: NSTDB baseline wander + muscle artefact (leanecg.data.nstdb, band-passed and resampled
    # like the records) added to this share of the training windows at an SNR drawn from real_noise_snr_db
    real_noise_p = 0.0
    real_noise_snr_db = (6.0, 24.0)
    # weight averaging (leanecg.train.averaging): keep the mean of the last epochs' weights, batch-norm
    # statistics recomputed; fixed-budget training only (train_uses_val False); 0: off
    average_epochs = 0
    # class-balanced sampling (TrainConfig.sampling "balanced": every class equally likely in each epoch's
    # draws) instead of the class-weighted loss; False: the weighted loss
    balanced_sampling = False
    # beats of atrial fibrillation from another database (:meth:`af_beats`: the AF records of cinc2017's
    # training and validation splits, every beat labelled N) added to every training part (TaskData.extra_train)
    # and never scored: DS1 holds two AF records (201, 203), so in a CV fold that holds one out the model has
    # seen one patient's AF; an irregular rhythm of normal beats is what its S calls confuse with ectopy
    extra_af_beats = False
    # the RECORD_Z_FEATURE_NAMES columns: the RR, rhythm-context and template columns against the record's own
    # median and IQR (leanecg.signal.record_norm; unsupervised adaptation to the patient, no label read),
    # appended; record_z_only: the model reads those columns alone (the linear member that does)
    record_z = False
    record_z_only = False
    # the RECORD_ZN_FEATURE_NAMES columns (the same against the record's non-premature beats only), appended
    record_zn = False
    # every training part (never held-out or test beats) gets a thinned copy of each of its ectopy-rich
    # records, its record-normalised columns computed over the copy (leanecg.tasks.ectopy_mix): the network
    # sees the yardstick that frequent ectopy moves, which DS1 alone never shows it
    thinned_copies = False
    # each record's leads oriented so that its typical QRS points up (leanecg.signal.polarity), in training
    # and, through the package's input spec, at inference: the network never depends on the lead's polarity
    orient_polarity = False
    _real_noise: np.ndarray | None = None  # (m, 4) at fs_model, set by load() when real_noise_p > 0

    def train_config(self, *, tiny: bool, seed: int, epochs: int | None) -> TrainConfig:
        """The task's configuration (:meth:`BenchTask.train_config`) with :attr:`balanced_sampling` (then
        without loss weights) and :attr:`average_epochs` (at most the run's epochs: a ``tiny`` run trains 2).

        Raises:
            LeanECGError: :attr:`average_epochs` with :attr:`train_uses_val` (early stopping keeps the best
                epoch, there is no tail to average).
        """
        config = super().train_config(tiny=tiny, seed=seed, epochs=epochs)
        if self.balanced_sampling:
            config = dataclasses.replace(config, sampling="balanced", loss="ce", class_weights=None)
        if not self.average_epochs:
            return config
        if self.train_uses_val:
            raise LeanECGError(
                "average_epochs", "needs train_uses_val False (fixed-budget training on all DS1 records)"
            )
        return dataclasses.replace(config, average_epochs=min(int(self.average_epochs), config.epochs))

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The beat features the model takes (columns of ``beat_model_inputs(..., context=True)``)."""
        if self.record_z_only:
            return RECORD_Z_FEATURE_NAMES
        return (
            RR_FEATURE_NAMES
            + (RR_CONTEXT_FEATURE_NAMES if self.rr_context else ())
            + (RR_MEDIAN_FEATURE_NAMES if self.rr_medians else ())
            + (TEMPLATE_FEATURE_NAMES if self.templates else ())
            + (TEMPLATE_DIFF_FEATURE_NAMES if self.template_diff else ())
            + (RECORD_Z_FEATURE_NAMES if self.record_z else ())
            + (RECORD_ZN_FEATURE_NAMES if self.record_zn else ())
        )

    def use_features(self, names: Sequence[str]) -> None:
        """Switch the feature groups (``rr_context``, ``rr_medians``, ``templates``, ``template_diff``,
        ``record_z``, ``record_z_only``, ``record_zn``) so that :attr:`feature_names` is ``names`` (a trained package's
        columns).

        Raises:
            LeanECGError: ``names`` is not RR features plus whole groups in this task's order.
        """
        wanted = list(names)
        self.rr_context = RR_CONTEXT_FEATURE_NAMES[0] in wanted
        self.rr_medians = RR_MEDIAN_FEATURE_NAMES[0] in wanted
        self.templates = TEMPLATE_FEATURE_NAMES[0] in wanted
        self.template_diff = TEMPLATE_DIFF_FEATURE_NAMES[0] in wanted
        self.record_z_only = wanted == list(RECORD_Z_FEATURE_NAMES)
        self.record_z = RECORD_Z_FEATURE_NAMES[0] in wanted and not self.record_z_only
        self.record_zn = RECORD_ZN_FEATURE_NAMES[0] in wanted
        if list(self.feature_names) != wanted:
            raise LeanECGError(
                "features", f"task {self.name} does not compute the columns {', '.join(wanted)}"
            )

    def use_leads(self, leads: Sequence[str]) -> None:
        """Switch :attr:`second_lead` so that :attr:`input_leads` is ``leads`` (a trained package's).

        Raises:
            LeanECGError: ``leads`` is neither ``["II"]`` nor ``["II", "V1"]``.
        """
        wanted = [str(n) for n in leads]
        self.second_lead = wanted == ["II", "V1"]
        if self.input_leads != wanted:
            raise LeanECGError("leads", f"task {self.name} does not feed the input leads {', '.join(wanted)}")

    @property
    def input_leads(self) -> list[str]:
        """The model's input leads: ``["II"]``, or ``["II", "V1"]`` with :attr:`second_lead`."""
        return ["II", "V1"] if self.second_lead else ["II"]

    def pipeline(self) -> Pipeline:
        """The inference pipeline: the input leads (:attr:`input_leads`), band-pass, resampling to
        :attr:`fs_model`."""
        return task_pipeline(self.fs_model, leads=self.input_leads, zscore=False)

    def record_pipeline(self, header: Path) -> Pipeline:
        """The training pipeline of one MIT-BIH record: :meth:`pipeline`, except that with
        :attr:`second_lead` the second input lead is the record's other lead whatever its name (MLII is the
        second signal of record 114)."""
        if not self.second_lead:
            return self.pipeline()
        from leanecg.data.wfdb_header import read_header
        from leanecg.signal.leads import canonical_lead_name

        names = [s.description for s in read_header(header).signals]
        other = [n for n in names if canonical_lead_name(n) != "II"]
        if len(other) != 1 or len(names) != 2:
            raise LeanECGError(header, f"expected MLII and one other lead, got {', '.join(names)}")
        return task_pipeline(self.fs_model, leads=["II", other[0]], zscore=False)

    def split_records(self, seed: int) -> dict[str, list[str]]:
        """Train / val / test records. With :attr:`train_uses_val` (early stopping) train is DS1 minus
        ``n_val_records`` seeded validation records; without it train is all of DS1 and val is those
        records again (a subset of train, reported, never used to select anything). Test is DS2."""
        from leanecg.data.mitdb import DS1, DS2
        from leanecg.data.registry import seeded_rank

        val = sorted(seeded_rank(list(DS1), seed)[: self.n_val_records])
        train = [r for r in DS1 if r not in val] if self.train_uses_val else list(DS1)
        return {"train": train, "val": val, "test": list(DS2)}

    def load(self, root: Path, *, tiny: bool = False, seed: int = 0, progress: Any = None) -> TaskData:
        from leanecg.data import get_dataset
        from leanecg.data.mitdb import mitdb_beats
        from leanecg.signal.resample import resample_indices

        ds = get_dataset(self.dataset)
        folder = ds.require(root)
        if self.real_noise_p > 0:
            self._real_noise = self.noise_channels(root)
        splits = self.split_records(seed)
        if tiny:
            splits = {"train": ["101", "106", "208", "209"], "val": ["207"], "test": ["100", "232"]}
        pipeline = self.pipeline()
        index = {c: k for k, c in enumerate(self.class_names)}
        out: dict[str, ArraySplit] = {}
        for split_name, records in splits.items():
            paths = [ds.record_path(folder, r) for r in records]
            pipelines = [self.record_pipeline(p.with_suffix(".hea")) for p in paths]
            signals = load_signals(paths, pipelines, progress, f"{self.name} {split_name}")
            beats = mitdb_beats(folder, records)
            xs, feats, ys, groups = [], [], [], []
            for rec, x, samples, labels in zip(records, signals, beats.samples, beats.labels, strict=True):
                peaks = resample_indices(samples, 360.0, self.fs_model, n_out=x.shape[1])
                win, rr = self.beat_inputs(x.T, peaks, self.feature_names)
                ok = labels != "Q"
                xs.append(win[ok])
                feats.append(select_beat_features(rr, self.feature_names)[ok])
                ys.append(np.array([index[c] for c in labels[ok]], dtype=np.int64))
                groups.append(np.full(int(ok.sum()), rec))
            out[split_name] = ArraySplit(
                X=np.concatenate(xs).astype(np.float32),
                y=np.concatenate(ys).astype(np.int64),
                features=np.concatenate(feats).astype(np.float32),
                groups=np.concatenate(groups),
                name=split_name,
            )
        extra = self.af_beats(root, tiny=tiny, progress=progress) if self.extra_af_beats else None
        n_win = out["train"].X.shape[-1]
        info = {
            "dataset": "mitdb",
            "split": (
                "de Chazal DS1 (train, minus validation records) / DS2 (test), inter-patient"
                if self.train_uses_val
                else "de Chazal DS1 (all 22 records train; val = 8 of them, reported only) / DS2 (test), "
                "inter-patient"
            ),
            "train_records": splits["train"],
            "val_records": splits["val"],
            "test_records": splits["test"],
            "n_train": len(out["train"]),
            "n_val": len(out["val"]),
            "n_test": len(out["test"]),
            "input": {
                "fs": self.fs_model,
                "leads": self.input_leads,
                "n_samples": n_win,
                "features": list(self.feature_names),
                "beat_inputs": {"causal": True, "templates": True, "template_history": self.template_history},
                **({"orient_polarity": True} if self.orient_polarity else {}),
            },
            "beats": "reference annotation positions (classification-only evaluation); Q beats excluded",
            "pipeline": pipeline.to_dict(),
            "tiny": tiny,
        }
        if extra is not None:
            info["extra_train"] = {
                "source": "cinc2017: the AF records (label A) of its training and validation splits",
                "label": "N",
                "records": len(np.unique(extra.groups)),
                "beats": len(extra),
                "rule": f"detected beats from the {AF_SKIP_BEATS + 1}th on, but the last, whose QRS "
                f"correlates >= {AF_MIN_QRS_CORR} with the running template",
            }
        transform = None
        if self.thinned_copies:
            names, copy_seed = list(self.feature_names), 1000 + int(seed)

            def transform(train: ArraySplit) -> ArraySplit:
                return with_thinned_copies(train, names, np.random.default_rng(copy_seed))

            info["thinned_copies"] = {
                "rule": f"each training record with >= {MIN_ECTOPIC} ectopic beats gets a copy holding all of them "
                f"and {N_SHARE} times as many of its N beats (drawn with seed {copy_seed}), its record-normalised "
                "columns computed over the copy",
            }
        return TaskData(
            out["train"],
            out["val"],
            out["test"],
            self.fs_model,
            n_win,
            pipeline,
            info,
            extra_train=extra,
            train_transform=transform,
        )

    def use_orientation(self, on: bool) -> None:
        """Set :attr:`orient_polarity` (a package's ``input.orient_polarity``)."""
        self.orient_polarity = bool(on)

    def beat_inputs(
        self, x: np.ndarray, peaks: np.ndarray, only: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """The task's beat windows and feature columns of one preprocessed record ``x`` ``(n_samples, n_leads)``
        at :attr:`fs_model` with R peaks ``peaks`` (samples at that rate): :func:`beat_model_inputs` with
        the task's window, causal running statistics and template history; ``only``: the columns wanted.
        With :attr:`orient_polarity` the windows are oriented by the record's QRS polarity
        (:func:`leanecg.signal.polarity.record_polarity`, as a package does at inference)."""
        windows, feats = beat_model_inputs(
            x,
            self.fs_model,
            peaks,
            self.before_s,
            self.after_s,
            causal=True,
            templates=True,
            history=self.template_history,
            context=True,
            only=only,
        )
        if self.orient_polarity and len(windows):
            windows = orient_windows(windows, record_polarity(windows, round(self.before_s * self.fs_model)))
        return windows, feats

    def af_beats(self, root: Path, *, tiny: bool = False, progress: Any = None) -> ArraySplit:
        """Beats of atrial fibrillation from ``cinc2017``, all labelled N (AAMI: the beats of AF are N).

        The records labelled A in cinc2017's training and validation splits (never its test split), each
        preprocessed by :meth:`pipeline` without its lead selection (one lead, AliveCor lead I, 300 Hz),
        its R peaks detected; a record's first :data:`AF_SKIP_BEATS` beats are dropped (the running RR
        statistics and template start there) and so is its last (no RR after it), and so is every beat
        whose QRS correlates less than :data:`AF_MIN_QRS_CORR` with the running template (a ventricular
        beat in AF is not N).

        Args:
            root: the data folder holding ``cinc2017``.
            tiny: the first 8 such records only (smoke runs).

        Returns:
            An :class:`ArraySplit` with the task's windows and :attr:`feature_names` columns, ``y`` all 0
            (N) and ``groups`` ``"cinc2017/<record>"``.

        Raises:
            LeanECGError: :attr:`second_lead` (the records have one lead); cinc2017 is not under ``root``.
        """
        from leanecg.data import get_dataset
        from leanecg.signal.rpeaks import detect_rpeaks

        if self.second_lead:
            raise LeanECGError(
                "extra_af_beats", "the cinc2017 records have one lead; a two-lead model needs two"
            )
        ds = get_dataset("cinc2017")
        splits, labels = ds.split(root), ds.labels(root)
        records = [r for part in ("train", "val") for r in splits[part] if labels[r][0] == "A"]
        records = records[:8] if tiny else records
        pipeline = task_pipeline(self.fs_model, zscore=False)
        signals = load_signals([ds.record_path(root, r) for r in records], pipeline, progress, "cinc2017 AF")
        names = list(self.feature_names)
        xs, feats, groups = [], [], []
        for rec, x in zip(records, signals, strict=True):  # x: float32 (1, n_samples), as training's records
            peaks = detect_rpeaks(x[0], self.fs_model)
            if peaks.size < AF_SKIP_BEATS + 2:
                continue
            win, f = self.beat_inputs(x.T, peaks, [*names, "template_qrs_corr"])
            keep = np.arange(peaks.size) >= AF_SKIP_BEATS
            keep[-1] = False
            keep &= select_beat_features(f, ["template_qrs_corr"])[:, 0] >= AF_MIN_QRS_CORR
            xs.append(win[keep])
            feats.append(select_beat_features(f, names)[keep])
            groups.append(np.full(int(keep.sum()), f"cinc2017/{rec}"))
        n_samples = round(self.before_s * self.fs_model) + round(self.after_s * self.fs_model)
        return ArraySplit(
            X=np.concatenate(xs or [np.zeros((0, 1, n_samples))]).astype(np.float32),
            y=np.zeros(sum(len(g) for g in groups), dtype=np.int64),
            features=np.concatenate(feats or [np.zeros((0, len(names)))]).astype(np.float32),
            groups=np.concatenate(groups or [np.zeros(0, dtype=str)]),
            name="extra-train",
        )

    def noise_channels(self, root: Path) -> np.ndarray:
        """The NSTDB ``bw`` and ``ma`` noise records under the data dir ``root``, band-passed and resampled
        to :attr:`fs_model` as the records are: float32 ``(m, 4)`` in mV (two channels each).

        Raises:
            LeanECGError: the noise records are not there.
        """
        parts = []
        for kind in ("bw", "ma"):
            sig, fs = load_noise(root, kind)
            parts.append(resample(bandpass(sig, fs, BAND_HZ[0], BAND_HZ[1]), fs, self.fs_model))
        n = min(len(p) for p in parts)
        return np.concatenate([p[:n] for p in parts], axis=1).astype(np.float32)

    def batch_loss(self, seed: int) -> BatchLoss | None:
        """Class-weighted cross-entropy with the task's augmentations (:func:`beat_augment_batch_loss`:
        heart-rate and position jitter, polarity flips, noise, real ambulatory noise); ``None`` (the plain
        loss) when all are off.

        Raises:
            LeanECGError: ``real_noise_p > 0`` before :meth:`load` read the noise records.
        """
        if not any(
            (self.rr_scale, self.max_shift, self.flip_p, self.noise, self.lead_dropout, self.real_noise_p)
        ):
            return None
        if self.real_noise_p > 0 and self._real_noise is None:
            raise LeanECGError(
                "real_noise_p", "the real-noise augmentation needs load() to read the NSTDB noise first"
            )
        return beat_augment_batch_loss(
            RR_SECONDS_COLUMNS,
            self.rr_scale,
            self.max_shift,
            seed,
            flip_p=self.flip_p,
            noise=self.noise,
            lead_dropout=self.lead_dropout,
            real_noise=self._real_noise,
            real_noise_p=self.real_noise_p,
            real_noise_snr_db=self.real_noise_snr_db,
        )

    def scores(self, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
        m = confusion(y_true, y_pred, len(self.class_names))
        pc = per_class_from_confusion(m, self.class_names)
        total = m.sum()
        return {
            "sveb_veb_f1": float(np.mean([pc["S"]["f1"], pc["V"]["f1"]])),
            "sveb_se": pc["S"]["se"],
            "sveb_ppv": pc["S"]["ppv"],
            "veb_se": pc["V"]["se"],
            "veb_ppv": pc["V"]["ppv"],
            "accuracy": float(np.trace(m) / total) if total else float("nan"),
            "macro_f1": float(np.nanmean([pc[c]["f1"] for c in self.class_names])),
        }
