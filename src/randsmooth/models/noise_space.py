"""Where the smoothing noise is added: a model's noise space, ``pixel`` or ``normalized``.

Every model is ``Sequential(Normalize(mean, std), net)``.

* ``pixel`` (the default, and the convention of all four papers' CIFAR-10 and ImageNet code): the
  noise is added to the [0, 1] image *before* ``Normalize``; sigma and radii are in [0, 1] pixel
  units.
* ``normalized`` (Xin et al.'s HAM10000 pipeline, which normalised in the data transform): the
  noise is added *after* ``Normalize``. The smoothed classifier is then ``net`` alone and its inputs
  are the normalised images ``(x - mean[c]) / std[c]``; sigma and radii are in normalised units
  (a normalised-space length is a pixel length divided by the channel's std, so for one common
  std s, sigma_normalized = sigma_pixel / s and every radius scales the same way).

:func:`smoothed_part` and :func:`to_noise_space` give the classifier and the data to smooth;
training, certification and soft targets go through them, so the choice is made in one place.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from ..train_config import NOISE_SPACES


def check_noise_space(space: Any) -> str:
    """``space`` if it is one of :data:`NOISE_SPACES`, else ``ValueError`` naming the choices."""
    if space not in NOISE_SPACES:
        raise ValueError(f"noise_space must be one of {list(NOISE_SPACES)}, got {space!r}")
    return space


def smoothed_part(model: nn.Sequential, space: str) -> nn.Module:
    """The part of ``model`` that sees the noisy inputs: all of it (pixel), or ``net`` (normalized).

    The returned module shares its parameters with ``model`` (training it trains ``model``).
    """
    return model if check_noise_space(space) == "pixel" else model[1:]


class NormalizedDataset(Dataset):
    """``dataset`` with every image normalised: items ``((x - mean[c]) / std[c], y)``.

    ``mean`` and ``std`` are plain per-channel floats (copied to the CPU, so data-loader worker
    processes never touch a GPU tensor). Other attributes (``targets``, ``set_epoch``, ...) are
    those of ``dataset``, except special (dunder) names such as ``__getitems__``.
    """

    def __init__(self, dataset: Dataset, mean: list[float], std: list[float]) -> None:
        self.dataset = dataset
        self.mean = torch.as_tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        x, *rest = self.dataset[index]
        return ((torch.as_tensor(x) - self.mean) / self.std, *rest)

    def __getattr__(self, name: str) -> Any:
        # never forward special names: a DataLoader would take the wrapped set's __getitems__ and
        # skip the normalisation; "dataset" is not set yet while unpickling (no recursion)
        if name.startswith("__") or name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)


def to_noise_space(dataset: Dataset, model: nn.Sequential, space: str) -> Dataset:
    """The inputs of :func:`smoothed_part`: ``dataset`` itself (pixel) or its images normalised with
    ``model``'s ``Normalize`` constants (normalized)."""
    if check_noise_space(space) == "pixel":
        return dataset
    norm = model[0]
    return NormalizedDataset(dataset, norm.mean.tolist(), norm.std.tolist())
