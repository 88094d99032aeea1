"""Attribution methods on model inputs: integrated gradients, 1-D Grad-CAM, occlusion, feature contributions.

Every method explains one **target class** per input and returns a relevance value per input sample (per
lead). The gradient methods explain the target class's log-odds ``s = log p / (1 - p)`` (softmax, or sigmoid
for multi-label models, at the package's temperature ``T``; unlike ``p`` it does not saturate when a
prediction is confident); occlusion measures the drop of the probability ``p`` itself:

* :func:`integrated_gradients` (Sundararajan et al., ICML 2017): ``(x - b) * mean_k grad s(b + a_k (x - b))``
  over ``steps`` midpoints ``a_k = (k + 0.5) / steps`` from a baseline ``b`` (zeros by default; see
  :func:`leanecg.explain.core.input_baseline` for the per-model choice). Signed; the attributions of one
  input sum to ``s(x) - s(b)`` up to the Riemann error. The feature input of a fusion model is held at its
  value (the signal's share); :func:`feature_integrated_gradients` gives the features' share (signal held).
* :func:`grad_cam` (Selvaraju et al., ICCV 2017, in 1-D): on the backbone output ``A (C, L')`` (the last
  convolutional block of every zoo model), ``relu(sum_c mean_t(ds/dA_c) A_c)``, linearly interpolated from
  the ``L'`` step centres to the ``L`` input samples. Non-negative, one map for all leads, coarse (the
  backbone's stride).
* :func:`occlusion` (Zeiler & Fergus, ECCV 2014): ``p(x) - p(x with samples [s, s + w) replaced by the
  baseline)``, averaged over the windows covering each sample. Needs only a probability function, so it runs
  on ONNX Runtime; a record model's function can recompute the record features from the occluded input
  (the model as deployed).
* :func:`lightgbm_contributions`: a LightGBM model's own SHAP values (``pred_contrib=True``, TreeSHAP) in
  raw-score (log-odds) units.

Torch is imported inside the gradient methods only (occlusion and LightGBM need numpy only).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from leanecg.errors import LeanECGError

__all__ = [
    "METHODS",
    "METHOD_TITLES",
    "feature_baseline",
    "feature_integrated_gradients",
    "grad_cam",
    "integrated_gradients",
    "lightgbm_contributions",
    "occlusion",
]

#: Method names of ``leanecg explain --method``.
METHODS: tuple[str, ...] = ("ig", "gradcam", "occlusion")
METHOD_TITLES = {"ig": "integrated gradients", "gradcam": "Grad-CAM (1-D)", "occlusion": "occlusion"}

#: A batch of model inputs ``(M, n_leads, L)`` (float32) -> probabilities ``(M, n_classes)``.
ProbaFn = Callable[[np.ndarray], np.ndarray]


def _target_index(target: Any, n: int) -> np.ndarray:
    t = np.broadcast_to(np.asarray(target, dtype=np.int64), (n,)).copy()
    return t


def _score(model: Any, x: Any, features: Any, target: Any, temperature: float, multilabel: bool) -> Any:
    """Per-row log-odds of the target class, ``log p_k - log(1 - p_k)`` at temperature ``T`` (softmax:
    ``z_k / T - logsumexp_{j != k} z_j / T``; sigmoid: ``z_k / T``)."""
    import torch

    logits = model(x) if features is None else model(x, features=features)
    z = logits / float(temperature)
    zk = z.gather(1, target[:, None])[:, 0]
    if multilabel:
        return zk
    others = z.masked_fill(torch.nn.functional.one_hot(target, z.shape[1]).bool(), float("-inf"))
    return zk - torch.logsumexp(others, dim=1)


def _prepare(model: Any) -> tuple[Any, bool]:
    was_training = bool(model.training)
    model.eval()
    return model, was_training


def integrated_gradients(
    model: Any,
    X: np.ndarray,
    target: int | Sequence[int] | np.ndarray,
    features: np.ndarray | None = None,
    *,
    steps: int = 32,
    baseline: np.ndarray | float = 0.0,
    temperature: float = 1.0,
    multilabel: bool = False,
    max_batch: int = 4096,
) -> np.ndarray:
    """Integrated gradients of the target-class log-odds w.r.t. the signal input.

    Args:
        model: a torch zoo model (``forward(x)`` or ``forward(x, features=...)``).
        X: float ``(N, n_leads, L)`` model inputs (one length; call per record for variable lengths).
        target: class index, one for all inputs or one per input.
        features: ``(N, n_features)`` for fusion models, held fixed; ``None`` otherwise.
        steps: Riemann midpoints (>= 1).
        baseline: a number or an array broadcastable to ``X`` (default zeros).
        temperature: the package's temperature (probabilities ``softmax(logits / T)``).
        multilabel: sigmoid outputs.
        max_batch: inputs per forward pass (``N * steps`` are needed in all).

    Returns:
        float32 ``(N, n_leads, L)`` attributions (signed, log-odds units).
    """
    import torch

    if int(steps) < 1:
        raise LeanECGError("steps", f"must be a positive number of steps, got {steps!r}")
    x = np.asarray(X, dtype=np.float32)
    if x.ndim != 3:
        raise LeanECGError("X", f"expected (N, n_leads, L) inputs, got shape {x.shape}")
    n = x.shape[0]
    tgt = _target_index(target, n)
    base = np.broadcast_to(np.asarray(baseline, dtype=np.float32), x.shape)
    alphas = (np.arange(int(steps), dtype=np.float32) + 0.5) / float(steps)
    model, was_training = _prepare(model)
    grads = np.zeros_like(x)
    per = max(1, int(max_batch) // max(1, len(alphas)))  # inputs per chunk, all their steps together
    try:
        for lo in range(0, n, per):
            hi = min(n, lo + per)
            xs, bs = x[lo:hi], base[lo:hi]
            m = hi - lo
            path = bs[None] + alphas[:, None, None, None] * (xs - bs)[None]  # (S, m, C, L)
            xt = torch.from_numpy(np.ascontiguousarray(path.reshape(-1, *x.shape[1:]))).requires_grad_(True)
            ft = None
            if features is not None:
                f = np.asarray(features, dtype=np.float32)[lo:hi]
                ft = torch.from_numpy(np.ascontiguousarray(np.tile(f, (len(alphas), 1))))
            idx = torch.from_numpy(np.tile(tgt[lo:hi], len(alphas)))
            with torch.enable_grad():
                sel = _score(model, xt, ft, idx, temperature, multilabel).sum()
                (g,) = torch.autograd.grad(sel, xt)
            grads[lo:hi] = g.detach().numpy().reshape(len(alphas), m, *x.shape[1:]).mean(axis=0)
    finally:
        model.train(was_training)
    return ((x - base) * grads).astype(np.float32)


def feature_baseline(model: Any) -> np.ndarray | None:
    """The feature baseline of a model that takes features: the training mean of each feature (the running
    mean of its feature batch-norm: a fusion head's ``feature_norm``, or the model's own, as the linear
    model's), in the model's feature space; for an ensemble, per column, the mean of the baselines of the
    members that read it (members reading their own columns, ``feature_columns``, are mapped into the
    ensemble's columns; a column no member has a baseline for gets 0); ``None`` for a model without features."""
    n_features = int(getattr(model, "n_features", 0) or 0)
    if n_features == 0:
        return None
    members = getattr(model, "members", None)
    if members is not None:
        columns = getattr(model, "feature_columns", None) or [list(range(n_features))] * len(members)
        total, count = np.zeros(n_features), np.zeros(n_features)
        for member, cols in zip(members, columns, strict=True):
            mean = feature_baseline(member)
            if mean is not None:
                np.add.at(total, cols, mean)
                np.add.at(count, cols, 1.0)
        if not count.any():
            return None
        return np.divide(total, count, out=np.zeros_like(total), where=count > 0).astype(np.float32)
    norm = getattr(getattr(model, "head", None), "feature_norm", None) or getattr(model, "feature_norm", None)
    mean = getattr(norm, "running_mean", None)
    return None if mean is None else mean.detach().cpu().numpy().astype(np.float32)


def feature_integrated_gradients(
    model: Any,
    X: np.ndarray,
    features: np.ndarray,
    target: int | Sequence[int] | np.ndarray,
    *,
    steps: int = 32,
    baseline: np.ndarray | None = None,
    temperature: float = 1.0,
    multilabel: bool = False,
    max_batch: int = 4096,
) -> np.ndarray:
    """Integrated gradients of the target-class log-odds w.r.t. the feature input (signal held at ``X``).

    ``baseline``: default :func:`feature_baseline` (each feature at its training mean), so a contribution
    says how much the record's value of a feature, against a typical training value, moved the log-odds.
    Returns float32 ``(N, n_features)`` (signed, log-odds units).
    """
    import torch

    x = np.asarray(X, dtype=np.float32)
    f = np.asarray(features, dtype=np.float32)
    if x.ndim != 3 or f.ndim != 2 or f.shape[0] != x.shape[0]:
        raise LeanECGError("features", f"expected (N, n_features) for {x.shape[0]} inputs, got {f.shape}")
    base = feature_baseline(model) if baseline is None else np.asarray(baseline, dtype=np.float32)
    if base is None:
        raise LeanECGError("model", "the model takes no features")
    base = np.broadcast_to(base, f.shape)
    n = x.shape[0]
    tgt = _target_index(target, n)
    alphas = (np.arange(int(steps), dtype=np.float32) + 0.5) / float(steps)
    model, was_training = _prepare(model)
    grads = np.zeros_like(f)
    per = max(1, int(max_batch) // len(alphas))
    try:
        for lo in range(0, n, per):
            hi = min(n, lo + per)
            m = hi - lo
            path = base[lo:hi][None] + alphas[:, None, None] * (f[lo:hi] - base[lo:hi])[None]  # (S, m, F)
            ft = torch.from_numpy(np.ascontiguousarray(path.reshape(-1, f.shape[1]))).requires_grad_(True)
            xt = torch.from_numpy(np.ascontiguousarray(np.tile(x[lo:hi], (len(alphas), 1, 1))))
            idx = torch.from_numpy(np.tile(tgt[lo:hi], len(alphas)))
            with torch.enable_grad():
                score = _score(model, xt, ft, idx, temperature, multilabel)
                (g,) = torch.autograd.grad(score.sum(), ft)
            grads[lo:hi] = g.detach().numpy().reshape(len(alphas), m, f.shape[1]).mean(axis=0)
    finally:
        model.train(was_training)
    return ((f - base) * grads).astype(np.float32)


def grad_cam(
    model: Any,
    X: np.ndarray,
    target: int | Sequence[int] | np.ndarray,
    features: np.ndarray | None = None,
    *,
    temperature: float = 1.0,
    multilabel: bool = False,
    max_batch: int = 1024,
) -> np.ndarray:
    """1-D Grad-CAM on the model's backbone output (its last convolutional block).

    Returns float32 ``(N, L)``: ``relu(sum_c w_c A_c)`` with ``w_c`` the time-mean gradient of the target
    log-odds w.r.t. channel ``c`` of the backbone output ``A``, interpolated to the input samples (step
    ``j`` of ``L'`` sits at the centre of its ``L / L'`` input samples).
    """
    import torch

    backbone = getattr(model, "backbone", None)
    if backbone is None:
        raise LeanECGError("method", "Grad-CAM needs a zoo model with a backbone (a last conv block)")
    x = np.asarray(X, dtype=np.float32)
    n, _, length = x.shape
    tgt = _target_index(target, n)
    model, was_training = _prepare(model)
    store: dict[str, Any] = {}

    def hook(_m: Any, _i: Any, out: Any) -> None:
        store["A"] = out

    handle = backbone.register_forward_hook(hook)
    maps = np.zeros((n, length), dtype=np.float32)
    try:
        for lo in range(0, n, int(max_batch)):
            hi = min(n, lo + int(max_batch))
            xt = torch.from_numpy(np.ascontiguousarray(x[lo:hi]))
            ft = None if features is None else torch.from_numpy(np.asarray(features, np.float32)[lo:hi])
            with torch.enable_grad():
                idx = torch.from_numpy(tgt[lo:hi])
                score = _score(model, xt, ft, idx, temperature, multilabel)
                (g,) = torch.autograd.grad(score.sum(), store["A"])
                acts = store["A"]
            a = acts.detach().numpy()  # (m, C, L')
            w = g.detach().numpy().mean(axis=2, keepdims=True)
            cam = np.maximum((w * a).sum(axis=1), 0.0)  # (m, L')
            steps = cam.shape[1]
            centres = (np.arange(steps) + 0.5) * (length / steps) - 0.5
            grid = np.arange(length)
            maps[lo:hi] = np.stack([np.interp(grid, centres, c) for c in cam])
    finally:
        handle.remove()
        model.train(was_training)
    return maps


def occlusion_starts(length: int, window: int, stride: int) -> np.ndarray:
    """Window starts covering ``[0, length)``: every ``stride`` samples, the last one ending at ``length``."""
    window = max(1, min(int(window), int(length)))
    starts = list(range(0, length - window + 1, max(1, int(stride))))
    if starts[-1] != length - window:
        starts.append(length - window)
    return np.asarray(starts, dtype=np.int64)


def occlusion(
    proba_fn: ProbaFn,
    X: np.ndarray,
    target: int | Sequence[int] | np.ndarray,
    *,
    window: int,
    stride: int | None = None,
    baseline: np.ndarray | float = 0.0,
    max_batch: int = 4096,
) -> np.ndarray:
    """Occlusion relevance of the target-class probability.

    Args:
        proba_fn: ``(M, n_leads, L)`` float32 inputs -> ``(M, n_classes)`` probabilities (any runtime; it may
            recompute features from the occluded inputs).
        X: float ``(N, n_leads, L)`` inputs of one length (call per record for variable lengths).
        target: class index, one for all inputs or one per input.
        window: occluded samples per window (all leads at once).
        stride: window step (default ``window // 2``).
        baseline: the values occluded samples take (a number, or an array broadcastable to ``X``).

    Returns:
        float32 ``(N, L)``: per sample, the mean probability drop of the windows covering it (signed).
    """
    x = np.asarray(X, dtype=np.float32)
    n, _, length = x.shape
    tgt = _target_index(target, n)
    stride = max(1, int(window) // 2) if stride is None else int(stride)
    starts = occlusion_starts(length, window, stride)
    w = max(1, min(int(window), length))
    base = np.broadcast_to(np.asarray(baseline, dtype=np.float32), x.shape)
    p0 = np.asarray(proba_fn(x))[np.arange(n), tgt]
    drops = np.zeros((n, length), dtype=np.float64)
    cover = np.zeros(length, dtype=np.float64)
    per = max(1, int(max_batch) // max(1, n))  # window positions per call
    for lo in range(0, len(starts), per):
        chunk = starts[lo : lo + per]
        batch = np.repeat(x[None], len(chunk), axis=0)  # (k, N, C, L)
        for j, s in enumerate(chunk):
            batch[j, :, :, s : s + w] = base[:, :, s : s + w]
        p = np.asarray(proba_fn(batch.reshape(-1, *x.shape[1:]))).reshape(len(chunk), n, -1)
        for j, s in enumerate(chunk):
            drops[:, s : s + w] += (p0 - p[j, np.arange(n), tgt])[:, None]
            cover[s : s + w] += 1
    return (drops / np.maximum(cover, 1)[None]).astype(np.float32)


def lightgbm_contributions(
    model: Any, X: np.ndarray, target: int | None = None, *, num_iteration: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A LightGBM model's own SHAP values (TreeSHAP, ``Booster.predict(..., pred_contrib=True)``).

    Args:
        model: a ``lightgbm.Booster``, a :class:`~leanecg.train.hybrid.LightGBMFit` (its best iteration is
            used), an ``LGBMClassifier``, or a scikit-learn pipeline ending in one (the earlier steps
            transform ``X`` first).
        X: ``(N, n_columns)`` design-matrix rows.
        target: class index of a multiclass model (``None``: the binary / single-output model's score).
        num_iteration: rounds to use (default: the fit's best iteration, else all).

    Returns:
        ``(contributions (N, n_columns), bias (N,))`` in raw-score units (log-odds of the target class for
        binary models, its softmax logit for multiclass): per row, ``bias + contributions.sum()`` is the raw
        score.
    """
    booster, rows = model, np.asarray(X)
    if hasattr(model, "steps"):  # sklearn Pipeline: transform with every step but the last
        for _, step in model.steps[:-1]:
            rows = step.transform(rows)
        booster = model.steps[-1][1]
    if hasattr(booster, "best_iteration") and hasattr(booster, "booster") and num_iteration is None:
        num_iteration = int(booster.best_iteration) or None
        booster = booster.booster
    if hasattr(booster, "booster_"):
        booster = booster.booster_
    if not hasattr(booster, "predict") or not hasattr(booster, "num_feature"):
        raise LeanECGError("model", f"not a LightGBM model: {type(model).__name__}")
    out = np.asarray(booster.predict(rows, pred_contrib=True, num_iteration=num_iteration), dtype=np.float64)
    n_cols = int(booster.num_feature())
    if out.shape[1] == n_cols + 1:
        return out[:, :n_cols], out[:, n_cols]
    k = out.shape[1] // (n_cols + 1)
    if target is None or not 0 <= int(target) < k:
        raise LeanECGError("target", f"a {k}-class LightGBM model needs a class index in [0, {k})")
    block = out[:, int(target) * (n_cols + 1) : (int(target) + 1) * (n_cols + 1)]
    return block[:, :n_cols], block[:, n_cols]
