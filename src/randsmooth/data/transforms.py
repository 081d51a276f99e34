"""Image transforms whose randomness comes from an explicit ``torch.Generator``.

The standard recipes of the papers (RandomCrop(32, 4) + flip, RandomResizedCrop + flip,
Resize + CenterCrop, ToTensor) are re-expressed as small ops ``op(img, generator)`` so that
augmentation can be reproduced exactly. Data sets built on :class:`SeededDataset` draw each
example's augmentation from a generator seeded by (seed, epoch, index) once
:meth:`SeededDataset.set_epoch` has been called; before that (``epoch is None``) the ops fall back
to torch's default generator, i.e. ordinary torchvision behaviour (reproducible through the
DataLoader's seeded worker RNGs). Outputs are float32 tensors in [0, 1]; no normalisation here.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms import InterpolationMode

from ..seeding import derive_seed

Op = Callable[[Any, "torch.Generator | None"], Any]


def item_generator(seed: int, epoch: int | None, index: int) -> torch.Generator | None:
    """A CPU generator seeded from (seed, epoch, index), or None (torch default RNG) if no epoch."""
    if epoch is None:
        return None
    return torch.Generator().manual_seed(derive_seed(seed, epoch, index))


def _uniform(low: float, high: float, generator: torch.Generator | None) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _randint(low: int, high: int, generator: torch.Generator | None) -> int:
    """Uniform integer in [low, high] (both inclusive)."""
    return int(torch.randint(low, high + 1, (1,), generator=generator))


class Compose:
    """Apply ops in order, passing the same generator to each."""

    def __init__(self, ops: Sequence[Op]) -> None:
        self.ops = list(ops)

    def __call__(self, img: Any, generator: torch.Generator | None = None) -> Any:
        for op in self.ops:
            img = op(img, generator)
        return img

    def __repr__(self) -> str:
        return "Compose(" + ", ".join(repr(op) for op in self.ops) + ")"


class ToTensor:
    """PIL image (uint8) -> float32 (C, H, W) tensor in [0, 1]."""

    def __call__(self, img: Image.Image, generator: torch.Generator | None = None) -> torch.Tensor:
        return TF.to_tensor(img)

    def __repr__(self) -> str:
        return "ToTensor()"


class Resize:
    """Resize the shorter side to ``size`` (bilinear, antialiased), keeping the aspect ratio."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, img: Any, generator: torch.Generator | None = None) -> Any:
        return TF.resize(img, [self.size], interpolation=InterpolationMode.BILINEAR, antialias=True)

    def __repr__(self) -> str:
        return f"Resize({self.size})"


class CenterCrop:
    """Crop the central ``size`` x ``size`` square."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, img: Any, generator: torch.Generator | None = None) -> Any:
        return TF.center_crop(img, [self.size, self.size])

    def __repr__(self) -> str:
        return f"CenterCrop({self.size})"


class RandomCrop:
    """Zero-pad a (C, H, W) tensor by ``padding`` on every side, then crop a random ``size`` square.

    Same semantics as torchvision's ``RandomCrop(size, padding)`` with the default zero fill.
    """

    def __init__(self, size: int, padding: int) -> None:
        self.size, self.padding = size, padding

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        p = self.padding
        padded = F.pad(x, (p, p, p, p)) if p else x
        h, w = padded.shape[-2:]
        if h < self.size or w < self.size:
            raise ValueError(f"RandomCrop({self.size}) needs an image of at least that size, got {h}x{w}")
        top = _randint(0, h - self.size, generator)
        left = _randint(0, w - self.size, generator)
        return padded[..., top : top + self.size, left : left + self.size]

    def __repr__(self) -> str:
        return f"RandomCrop({self.size}, padding={self.padding})"


class RandomFlip:
    """Flip a (C, H, W) tensor horizontally (``dim=-1``) or vertically (``dim=-2``) with prob. ``p``."""

    def __init__(self, dim: int = -1, p: float = 0.5) -> None:
        self.dim, self.p = dim, p

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return x.flip(self.dim) if float(torch.rand((), generator=generator)) < self.p else x

    def __repr__(self) -> str:
        return f"RandomFlip({'horizontal' if self.dim == -1 else 'vertical'}, p={self.p})"


class RandomResizedCrop:
    """Crop a random area fraction in ``scale`` with aspect ratio in ``ratio``, resize to ``size``.

    The crop is drawn as in Szegedy et al. (Inception) / torchvision: up to 10 tries of
    area ~ U(scale) * H * W and log-aspect ~ U(log ratio); if none fits, the largest central crop
    whose aspect ratio is clamped to ``ratio``. Works on PIL images (bilinear, antialiased).
    """

    def __init__(
        self, size: int, scale: tuple[float, float] = (0.08, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3)
    ) -> None:
        self.size, self.scale, self.ratio = size, scale, ratio

    def params(self, height: int, width: int, generator: torch.Generator | None) -> tuple[int, int, int, int]:
        """(top, left, crop height, crop width) for an image of the given size."""
        area = height * width
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(10):
            target = area * _uniform(self.scale[0], self.scale[1], generator)
            aspect = math.exp(_uniform(log_lo, log_hi, generator))
            w = round(math.sqrt(target * aspect))
            h = round(math.sqrt(target / aspect))
            if 0 < w <= width and 0 < h <= height:
                return _randint(0, height - h, generator), _randint(0, width - w, generator), h, w
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            w, h = width, round(width / self.ratio[0])
        elif in_ratio > self.ratio[1]:
            h, w = height, round(height * self.ratio[1])
        else:
            h, w = height, width
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(self, img: Image.Image, generator: torch.Generator | None = None) -> Image.Image:
        width, height = img.size
        top, left, h, w = self.params(height, width, generator)
        return TF.resized_crop(
            img, top, left, h, w, [self.size, self.size], interpolation=InterpolationMode.BILINEAR, antialias=True
        )

    def __repr__(self) -> str:
        return f"RandomResizedCrop({self.size}, scale={self.scale}, ratio={self.ratio})"


def load_rgb(path: str) -> Image.Image:
    """Open an image file as an RGB PIL image (grayscale/CMYK/RGBA files are converted)."""
    with Image.open(path) as img:
        return img.convert("RGB")


class SeededDataset(Dataset):
    """Base class: applies ``transform`` with a per-(seed, epoch, index) generator.

    Subclasses implement ``__len__`` and :meth:`raw` (the untransformed item and its label) and set
    ``targets`` (list of int labels) and ``classes``. Call :meth:`set_epoch` at the start of every
    epoch (before creating the DataLoader iterator; not seen by ``persistent_workers``) for fully
    reproducible augmentation.
    """

    def __init__(self, transform: Compose, seed: int) -> None:
        self.transform = transform
        self.seed = seed
        self.epoch: int | None = None
        self.targets: list[int] = []
        self.classes: tuple[str, ...] = ()

    def set_epoch(self, epoch: int) -> None:
        """Seed all later augmentation draws from (seed, epoch, index)."""
        if int(epoch) != epoch or epoch < 0:
            raise ValueError(f"epoch must be a non-negative integer, got {epoch!r}")
        self.epoch = int(epoch)

    def raw(self, index: int) -> tuple[Any, int]:
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a data set of size {len(self)}")
        index = index % len(self)
        item, label = self.raw(index)
        x = self.transform(item, item_generator(self.seed, self.epoch, index))
        return x.to(torch.float32), int(label)
