"""Inference batch plans; moved to :mod:`leanecg.signal.batching` (numpy only), re-exported here."""

from leanecg.signal.batching import inference_batches, window_starts

__all__ = ["inference_batches", "window_starts"]
