"""Lead-wise weight-sharing network: one per-lead encoder reused across leads, so weights do not grow with leads.

Every input lead goes through the *same* single-lead CNN encoder (a LiteNet backbone + average pooling),
giving one embedding per lead. A learned embedding of the lead's identity (its position among the 12
standard leads, :data:`~leanecg.signal.leads.STANDARD_12`) enters a shared projection,
``z_l = ReLU(W h_l + e_lead)``, so the network knows which lead each embedding came from. The embeddings
of the *present* leads are pooled (masked mean and masked max, concatenated) and a linear layer gives the
logits. Shapes: ``(batch, n_leads, n_samples) -> (batch, n_classes)``.

Missing leads: a lead whose input is all zeros (zero-filled, e.g. by
:func:`leanecg.signal.leads.select_leads` with ``missing="zero"``) is *masked out* of the pooling, so it
does not influence the output at all; :meth:`LeadWiseNet.forward_masked` takes an explicit mask instead. A model built for a lead subset (``leads=["I", "II"]``) takes only those channels, costs
only their compute, and loads the weights of the 12-lead model unchanged (``load_state_dict(strict=True)``):
the weight count is the same for every lead set (the lead-identity table always has 12 rows).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from leanecg.models.blocks import init_weights, make_divisible
from leanecg.models.heads import check_input
from leanecg.models.litenet import LiteNetBackbone
from leanecg.signal.leads import STANDARD_12, canonical_lead_name


class LeadWiseNet(nn.Module):
    """One shared single-lead encoder, a lead-identity embedding and pooling over the present leads.

    Args:
        n_leads: input channels; must equal ``len(leads)``.
        n_classes: output logits.
        width: channel multiplier of the encoder and the embedding size (multiples of 4).
        depth: extra stride-1 encoder blocks (as :class:`~leanecg.models.litenet.LiteNet`).
        leads: names of the input channels in order (empty, the default: the first ``n_leads`` of the
            12 standard leads); each must be one of the 12 standard leads.
        stem_channels, stem_kernel, blocks, kernel_size: the encoder (LiteNet backbone on one lead).
        embed_dim: per-lead embedding size at ``width == 1``.
        dropout: dropout before the classifier.
    """

    extra_inputs: tuple[str, ...] = ()

    def __init__(
        self,
        n_leads: int,
        n_classes: int,
        width: float = 1.0,
        depth: float = 1.0,
        *,
        leads: Sequence[str] = (),
        stem_channels: int = 16,
        stem_kernel: int = 15,
        blocks: Sequence[Sequence[int]] = ((24, 2), (32, 2), (48, 2), (64, 2)),
        kernel_size: int = 9,
        embed_dim: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        names = list(STANDARD_12[:n_leads]) if not leads else [canonical_lead_name(str(n)) for n in leads]
        if n_leads > len(STANDARD_12) and not leads:
            raise ValueError(f"at most {len(STANDARD_12)} standard leads; pass leads= for {n_leads}")
        if len(names) != n_leads:
            raise ValueError(f"leads names {len(names)} channels but n_leads is {n_leads}")
        unknown = [n for n in names if n not in STANDARD_12]
        if unknown:
            raise ValueError(f"lead {unknown[0]!r} is not one of the 12 standard leads")
        if len(set(names)) != len(names):
            raise ValueError("leads must not repeat")
        self.encoder = LiteNetBackbone.scaled(
            1, width, depth, stem_channels, stem_kernel, blocks, kernel_size
        )
        dim = make_divisible(embed_dim * width, 4)  # as the encoder's channels
        self.project = nn.Linear(self.encoder.out_channels, dim)
        self.lead_embedding = nn.Embedding(len(STANDARD_12), dim)
        self.act = nn.ReLU()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Linear(2 * dim, n_classes)
        self.register_buffer(
            "lead_ids",
            torch.tensor([STANDARD_12.index(n) for n in names], dtype=torch.long),
            persistent=False,
        )
        self.leads = tuple(names)
        self.n_leads = int(n_leads)
        self.min_samples = int(self.encoder.stride)
        self.resolved_options = {"leads": list(names)}
        self.apply(init_weights)
        nn.init.normal_(self.lead_embedding.weight, std=0.02)

    def lead_embeddings(self, x: torch.Tensor) -> torch.Tensor:
        """Per-lead embeddings ``(batch, n_leads, dim)`` (before masking and pooling)."""
        check_input(x, self.n_leads)
        # shapes taken by indexing (not unpacking) so torch.fx can trace the model
        h = self.encoder(x.reshape(-1, 1, x.shape[-1])).mean(dim=-1)  # (B*L, C)
        z = self.project(h).reshape(x.shape[0], x.shape[1], -1) + self.lead_embedding(self.lead_ids)[None]
        return self.act(z)

    def pool(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Masked mean and max over leads: ``(B, L, D), (B, L) bool -> (B, 2D)`` (zeros if no lead is present)."""
        m = mask.to(z.dtype).unsqueeze(-1)
        count = m.sum(dim=1).clamp(min=1.0)
        mean = (z * m).sum(dim=1) / count
        # z >= 0 after ReLU, so multiplying absent leads by 0 leaves the max over the present ones
        mx = (z * m).amax(dim=1)
        return torch.cat([mean, mx], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, n_classes)`` of ``x`` ``(batch, n_leads, n_samples)``; all-zero leads are absent."""
        return self.forward_masked(x, x.abs().amax(dim=-1) > 0)

    def forward_masked(self, x: torch.Tensor, lead_mask: torch.Tensor) -> torch.Tensor:
        """Logits with an explicit bool ``lead_mask`` ``(batch, n_leads)``, True where a lead is present
        (what the absent leads hold is ignored)."""
        z = self.lead_embeddings(x)
        return self.classifier(self.dropout(self.pool(z, lead_mask)))

    def head_from_embeddings(self, z: torch.Tensor, lead_mask: torch.Tensor) -> torch.Tensor:
        """Logits from precomputed :meth:`lead_embeddings` and a mask (fast lead-subset search)."""
        return self.classifier(self.pool(z, lead_mask))
