"""Parameter counts and on-disk sizes of torch models (fp32, and an int8 estimate).

- ``bytes_fp32`` is the size of ``torch.save(model.state_dict())`` with every floating-point tensor
  stored as float32 (parameters **and** buffers such as BatchNorm running statistics, plus the zip/pickle
  container), measured by actually serialising it to memory.
- ``bytes_int8`` (estimate) is the same file with every floating-point tensor of rank >= 2 (conv / linear
  / RNN / attention weight matrices, embeddings) replaced by int8 values plus one float32 scale per output
  channel (axis 0), and everything else (biases, norms, running statistics, integer buffers) kept as is:
  ``bytes_fp32 - 4*n_weights + n_weights + 4*n_channels``. This is what per-channel symmetric weight
  quantisation (ORT static int8, torch.ao) stores; the container overhead is kept so that the two sizes
  compare like for like. Pass a real quantised file to :func:`leanecg.evaluate.cost.measure_cost` to
  measure instead of estimating.
"""

from __future__ import annotations

import io

import torch
from torch import nn

__all__ = ["count_params", "int8_estimate_bytes", "state_dict_fp32_bytes"]


def count_params(model: nn.Module) -> int:
    """Number of parameter elements (shared parameters counted once; buffers excluded)."""
    return sum(p.numel() for p in model.parameters())


def _fp32_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state_dict itself (its ``_metadata`` is saved too), floating-point tensors cast to fp32."""
    sd = model.state_dict()
    for k, v in sd.items():
        v = v.detach().cpu()
        sd[k] = v.to(torch.float32) if v.is_floating_point() else v
    return sd


def state_dict_fp32_bytes(model: nn.Module) -> int:
    """Bytes of the serialised weights-only state_dict, floating-point tensors as float32."""
    buf = io.BytesIO()
    torch.save(_fp32_state_dict(model), buf)
    return buf.getbuffer().nbytes


def _unique_tensors(model: nn.Module) -> list[torch.Tensor]:
    """State-dict tensors, each storage once (``torch.save`` deduplicates shared storages too)."""
    seen: set[tuple[int, int, tuple[int, ...]]] = set()
    out: list[torch.Tensor] = []
    for v in model.state_dict().values():
        key = (v.untyped_storage().data_ptr(), v.storage_offset(), tuple(v.shape))
        if key in seen:
            continue
        seen.add(key)
        out.append(v)
    return out


def int8_estimate_bytes(model: nn.Module, fp32_bytes: int | None = None) -> int:
    """Estimated bytes of the state_dict file with weight matrices in int8 + per-channel fp32 scales.

    Args:
        model: the torch model.
        fp32_bytes: :func:`state_dict_fp32_bytes` if already known (saves one serialisation).
    """
    total = state_dict_fp32_bytes(model) if fp32_bytes is None else fp32_bytes
    for t in _unique_tensors(model):
        if t.is_floating_point() and t.dim() >= 2:
            n = t.numel()
            channels = int(t.shape[0])
            total += -4 * n + n + 4 * channels
    return total
