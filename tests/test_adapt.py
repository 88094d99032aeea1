"""Test-time batch-norm adaptation (AdaBN, ``leanecg.train.adapt``) on a zoo network."""

from __future__ import annotations

import numpy as np
import pytest

from leanecg.errors import LeanECGError

torch = pytest.importorskip("torch")

from leanecg.models.registry import build_model  # noqa: E402
from leanecg.train.adapt import adapt_batch_norm, backbone_norms  # noqa: E402


def _net_and_beats(n: int = 50) -> tuple[torch.nn.Module, np.ndarray, np.ndarray]:
    torch.manual_seed(0)
    net = build_model("beatnet", n_leads=1, n_classes=4, n_features=5)
    net.train()
    rng = np.random.default_rng(1)
    with torch.no_grad():  # statistics of a "training" domain, unlike the record below
        for _ in range(5):
            net(torch.randn(32, 1, 126), features=torch.randn(32, 5))
    net.eval()
    x = (3.0 + 0.5 * rng.standard_normal((n, 1, 126))).astype(np.float32)  # another amplitude and offset
    f = rng.standard_normal((n, 5)).astype(np.float32)
    return net, x, f


def test_the_first_backbone_norm_holds_the_records_own_statistics() -> None:
    net, x, f = _net_and_beats()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    adapted = adapt_batch_norm(net, x, f)
    names = backbone_norms(net)
    assert names and all("backbone" in n for n in names)
    # the first norm's input is the first convolution of x, the same in both models
    seen: list[torch.Tensor] = []
    conv = next(m for m in net.modules() if isinstance(m, torch.nn.Conv1d))
    handle = conv.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
    with torch.no_grad():
        net(torch.from_numpy(x), features=torch.from_numpy(f))
    handle.remove()
    act = seen[0].transpose(0, 1).reshape(seen[0].shape[1], -1).double()
    bn = adapted.get_submodule(names[0])
    np.testing.assert_allclose(bn.running_mean.numpy(), act.mean(1).numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), act.var(1, unbiased=True).numpy(), rtol=1e-3)
    # the original is untouched, the feature input's norm is kept, the copy is in eval mode
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    feat_norms = [n for n, m in net.named_modules() if isinstance(m, torch.nn.BatchNorm1d) and n not in names]
    assert feat_norms
    for n in feat_norms:
        assert torch.equal(adapted.get_submodule(n).running_mean, net.get_submodule(n).running_mean)
    assert not adapted.training and not any(m.training for m in adapted.modules())
    assert all(adapted.get_submodule(n).momentum == net.get_submodule(n).momentum for n in names)


def test_adaptation_is_deterministic_and_changes_the_output_on_a_shifted_record() -> None:
    net, x, f = _net_and_beats()
    xt, ft = torch.from_numpy(x), torch.from_numpy(f)
    a, b = adapt_batch_norm(net, x, f), adapt_batch_norm(net, x, f)
    with torch.no_grad():
        pa, pb, p0 = a(xt, features=ft), b(xt, features=ft), net(xt, features=ft)
    assert torch.equal(pa, pb)  # dropout off while the statistics are taken
    assert not torch.allclose(pa, p0, atol=1e-3)


def test_adaptation_needs_two_inputs_and_a_batch_norm_layer() -> None:
    net, x, f = _net_and_beats()
    with pytest.raises(LeanECGError, match="at least 2 inputs"):
        adapt_batch_norm(net, x[:1], f[:1])
    with pytest.raises(LeanECGError, match="no batch-norm layer"):
        adapt_batch_norm(net, x, f, layers=lambda m: [])
    with pytest.raises(LeanECGError, match="is not a batch-norm layer"):
        adapt_batch_norm(net, x, f, layers=lambda m: ["backbone"])
