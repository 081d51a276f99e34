"""scikit-learn's bundled 8x8 handwritten digits: the embedded, download-free default data set.

* 1,797 images, 10 classes, pixels 0..16 scaled by 1/16 to [0, 1]; shape 1 x 8 x 8.
* Fixed stratified split (``sklearn.model_selection.train_test_split``, stratify = labels,
  ``test_size`` = 0.25 by default -> 1,347 train / 450 test), deterministic from ``seed``.
* ``upsample=True``: bilinear resize (``align_corners=False``) to 32 x 32 and repeat to 3 channels,
  so CIFAR-10 architectures run on it unchanged (values stay in [0, 1]).
* Train augmentation (``augment=True``): a random shift of up to 1/8 of the side (1 px at 8 x 8,
  4 px at 32 x 32; zero padding + random crop, like CIFAR's RandomCrop(32, 4)); no flips (digits
  are not mirror-symmetric).
* Normalisation constants (for the model's Normalize layer): per-channel mean and population std
  of the training split as yielded (after upsampling, without augmentation), computed in float64
  and rounded to 6 decimals.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from .spec import DIGITS_CLASSES, DatasetSpec
from .transforms import Compose, RandomCrop, SeededDataset

DIGITS_TEST_SIZE = 0.25
UPSAMPLED_SIZE = 32


def _check_test_size(test_size: float) -> float:
    if not isinstance(test_size, (int, float)) or not 0.0 < float(test_size) < 1.0:
        raise ValueError(f"test_size must be a fraction in (0, 1), got {test_size!r}")
    return float(test_size)


@lru_cache(maxsize=8)
def _split(seed: int, test_size: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train": (x, y), "test": (x, y)}; x float32 (n, 8, 8) in [0, 1], y int64. Read-only arrays."""
    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)
    labels = bunch.target.astype(np.int64)
    idx_train, idx_test = train_test_split(
        np.arange(len(labels)), test_size=test_size, random_state=seed, stratify=labels
    )
    out = {}
    for split, idx in (("train", np.sort(idx_train)), ("test", np.sort(idx_test))):
        x, y = images[idx], labels[idx]
        x.setflags(write=False)
        y.setflags(write=False)
        out[split] = (x, y)
    return out


def digits_tensors(
    split: str, *, seed: int = 0, test_size: float = DIGITS_TEST_SIZE, upsample: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """(images float32 (n, C, H, W) in [0, 1], labels int64 (n,)) of one split."""
    if not isinstance(upsample, bool):
        raise ValueError(f"upsample must be True or False, got {upsample!r}")
    x, y = _split(int(seed), _check_test_size(test_size))[split]
    images = torch.tensor(x).unsqueeze(1)
    if upsample:
        images = (
            F.interpolate(images, size=(UPSAMPLED_SIZE, UPSAMPLED_SIZE), mode="bilinear", align_corners=False)
            .clamp_(0.0, 1.0)
            .repeat(1, 3, 1, 1)
        )
    return images.contiguous(), torch.tensor(y)


def digits_spec(*, seed: int = 0, test_size: float = DIGITS_TEST_SIZE, upsample: bool = False) -> DatasetSpec:
    """Spec of the digits data set; mean/std are those of its training split (see module doc)."""
    images, _ = digits_tensors("train", seed=seed, test_size=test_size, upsample=upsample)
    flat = images.to(torch.float64).transpose(0, 1).reshape(images.shape[1], -1)
    mean = tuple(round(float(v), 6) for v in flat.mean(dim=1))
    std = tuple(round(float(v), 6) for v in flat.std(dim=1, correction=0))
    return DatasetSpec(
        name="digits",
        num_classes=10,
        input_shape=tuple(images.shape[1:]),
        mean=mean,
        std=std,
        class_names=DIGITS_CLASSES,
    )


class DigitsDataset(SeededDataset):
    """In-memory digits split; ``tensors`` = (images, labels) like a TensorDataset."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, augment: bool, seed: int) -> None:
        side = images.shape[-1]
        ops = [RandomCrop(side, padding=max(1, side // 8))] if augment else []
        super().__init__(Compose(ops), seed)
        self.tensors = (images, labels)
        self.targets = [int(v) for v in labels]
        self.classes = DIGITS_CLASSES

    def __len__(self) -> int:
        return len(self.targets)

    def raw(self, index: int) -> tuple[torch.Tensor, int]:
        return self.tensors[0][index], self.targets[index]


def load_digits_dataset(
    split: str, *, augment: bool, seed: int, upsample: bool = False, test_size: float = DIGITS_TEST_SIZE
) -> DigitsDataset:
    """The digits ``split`` ("train" or "test") as a :class:`DigitsDataset`."""
    images, labels = digits_tensors(split, seed=seed, test_size=test_size, upsample=upsample)
    return DigitsDataset(images, labels, augment=augment, seed=seed)
