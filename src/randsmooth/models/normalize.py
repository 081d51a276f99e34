"""Per-channel input normalisation as the first layer of every model.

Noise is added in [0, 1] pixel space *before* this layer, so sigma and certified radii stay in pixel
units whatever the data set's mean/std. Unlike Cohen et al.'s NormalizeLayer, mean and std are
registered buffers: they appear in the state dict (keys ``0.mean``, ``0.std``) and follow
``.to(device)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


class Normalize(nn.Module):
    """``(x - mean[c]) / std[c]`` for an input batch of shape (N, C, H, W)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        mean_t = torch.as_tensor([float(m) for m in mean], dtype=torch.float32)
        std_t = torch.as_tensor([float(s) for s in std], dtype=torch.float32)
        if mean_t.ndim != 1 or mean_t.numel() == 0 or mean_t.shape != std_t.shape:
            raise ValueError(f"mean and std must be non-empty sequences of equal length, got {mean!r} and {std!r}")
        if not all(math.isfinite(s) and s > 0 for s in std_t.tolist()):
            raise ValueError(f"std must contain positive finite numbers, got {std!r}")
        if not all(math.isfinite(m) for m in mean_t.tolist()):
            raise ValueError(f"mean must contain finite numbers, got {mean!r}")
        self.register_buffer("mean", mean_t)
        self.register_buffer("std", std_t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.mean.numel():
            raise ValueError(f"Normalize expects input of shape (N, {self.mean.numel()}, H, W), got {tuple(x.shape)}")
        return (x - self.mean.view(1, -1, 1, 1)) / self.std.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"mean={self.mean.tolist()}, std={self.std.tolist()}"
