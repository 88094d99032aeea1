"""Inference batch plans: numpy only (no torch), shared by the torch trainer and the ONNX Runtime path.

See :mod:`leanecg.train.datasets` for the batching rules (full-length records grouped by length, or
sliding windows whose last window ends at the record's end).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from leanecg.signal.windows import window_starts as signal_window_starts

__all__ = ["inference_batches", "window_starts"]


def window_starts(n_samples: int, window: int, hop: int) -> np.ndarray:
    """int64 starts of sliding windows over ``n_samples`` samples; the last window ends at the record's end
    (:func:`leanecg.signal.windows.window_starts` with ``tail="end"``).

    A record shorter than ``window`` (even an empty one) gets one window at 0 (zero-padded by
    :func:`gather_windows`), so every record gets a prediction.
    """
    starts = signal_window_starts(int(n_samples), window, hop, tail="end")
    return starts if starts.size else np.zeros(1, dtype=np.int64)


def inference_batches(
    lengths: np.ndarray,
    batch_size: int,
    window: int | None = None,
    hop: int | None = None,
    pad_fraction: float = 0.0,
) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """Plan inference: yields ``(records, starts, length)`` per batch (see the module docstring).

    Args:
        lengths: int ``(N,)`` samples per record.
        batch_size: records (full-length) or windows (sliding) per batch.
        window: sliding-window length in samples; ``None`` = full-length records.
        hop: samples between window starts (default: ``window``, i.e. no overlap).
        pad_fraction: full-length mode only: records in one batch differ in length by at most this fraction
            of the longest (``0.0``: equal lengths only).

    The plan depends only on ``lengths`` and the arguments, so inference is deterministic.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if window is None:
        order = np.argsort(lengths, kind="stable")
        sorted_lengths = lengths[order]
        i, n = 0, len(order)
        while i < n:
            limit = min(n, i + batch_size)
            lo = sorted_lengths[i]
            if pad_fraction <= 0:  # equal lengths only: the run of ``lo`` in the sorted lengths
                j = min(limit, int(np.searchsorted(sorted_lengths, lo, side="right")))
            else:
                j = i + 1
                while j < limit and sorted_lengths[j] - lo <= pad_fraction * sorted_lengths[j]:
                    j += 1
            recs = order[i:j]
            yield recs, np.zeros(len(recs), dtype=np.int64), int(lengths[recs].max())
            i = j
        return
    hop = window if hop is None else hop
    per_record = [window_starts(int(n), window, hop) for n in lengths]
    recs = np.repeat(np.arange(len(lengths), dtype=np.int64), [len(s) for s in per_record])
    starts = np.concatenate(per_record)
    for i in range(0, len(recs), batch_size):
        yield recs[i : i + batch_size], starts[i : i + batch_size], int(window)
