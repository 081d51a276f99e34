"""Imagenet32: ImageNet down-sampled to 32x32 (Chrabaszcz, Loshchilov & Hutter 2017), for pre-training.

Yang et al. (2020) pre-train on it for Table 1's "+ Stability Training, Pre-training" CIFAR-10 row
(rs4a's ``ds-imagenet``). Obtaining the data: it is not downloaded automatically. Registered
ImageNet users download ``Imagenet32_train_npz.zip`` and ``Imagenet32_val_npz.zip`` from
image-net.org (Download -> "Downsampled ImageNet 32x32") and unzip them into ``<root>/imagenet32/``::

    <root>/imagenet32/Imagenet32_train_npz/train_data_batch_{1..10}.npz
    <root>/imagenet32/Imagenet32_val_npz/val_data.npz

Each ``.npz`` holds ``data`` (n x 3072 uint8: the 32x32 red, green and blue planes of one image per
row) and ``labels`` (n ints in 1..1000, the ILSVRC2012 devkit's class ids -- not the sorted-wnid
order of the ``imagenet`` data set); label = id - 1. They are read with ``allow_pickle=False``.
1,281,167 training and 50,000 validation images (the ``test`` split), about 3.9 GB in memory as
uint8. Transforms: train RandomCrop(32, padding 4) + horizontal flip (CIFAR-10's, an assumption:
rs4a's ``ds-imagenet`` transforms are not known); test none. No normalisation here (it is in the
model, with the ImageNet constants).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from .download import DatasetLayoutError
from .transforms import Compose, RandomCrop, RandomFlip, SeededDataset

log = logging.getLogger(__name__)

IMAGENET32_FOLDER = "imagenet32"
IMAGENET32_FILES = {
    "train": tuple(f"Imagenet32_train_npz/train_data_batch_{k}.npz" for k in range(1, 11)),
    "test": ("Imagenet32_val_npz/val_data.npz",),
}
IMAGENET32_CLASSES = tuple(f"ilsvrc2012 id {k}" for k in range(1, 1001))
_HOW_TO_OBTAIN = (
    "download Imagenet32_train_npz.zip and Imagenet32_val_npz.zip from image-net.org (Downsampled "
    "ImageNet 32x32; an ImageNet account is needed) and unzip them into <root>/imagenet32/"
)


def read_npz_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (n, 3, 32, 32), labels int64 (n,) in 0..999) of one Imagenet32 ``.npz`` file."""
    with np.load(path, allow_pickle=False) as batch:
        if "data" not in batch or "labels" not in batch:
            raise ValueError(f"{path} is not an Imagenet32 batch: keys {sorted(batch.files)}, expected data and labels")
        data, labels = batch["data"], np.asarray(batch["labels"], dtype=np.int64) - 1
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{path}: 'data' must be uint8 of shape (n, 3072), got {data.dtype} {data.shape}")
    if labels.shape != (data.shape[0],) or labels.min(initial=0) < 0 or labels.max(initial=0) > 999:
        raise ValueError(f"{path}: 'labels' must be {data.shape[0]} integers in 1..1000")
    return data.reshape(-1, 3, 32, 32), labels


class Imagenet32Dataset(SeededDataset):
    """One Imagenet32 split held in memory as uint8; items are float32 (3, 32, 32) in [0, 1]."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, *, augment: bool, seed: int) -> None:
        ops = [RandomCrop(32, padding=4), RandomFlip(dim=-1)] if augment else []
        super().__init__(Compose(ops), seed)
        self.data = images
        self.targets = [int(v) for v in labels]
        self.classes = IMAGENET32_CLASSES

    def __len__(self) -> int:
        return len(self.targets)

    def raw(self, index: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(self.data[index]).to(torch.float32).div_(255.0), self.targets[index]


def load_imagenet32(split: str, root: Path, *, augment: bool, download: bool, seed: int) -> Imagenet32Dataset:
    """The Imagenet32 ``split`` ("train", or "test" = the validation images) from ``root/imagenet32``."""
    if download:
        log.info("download=True ignored for imagenet32: it must be supplied by the user")
    folder = root / IMAGENET32_FOLDER
    paths = [folder / name for name in IMAGENET32_FILES[split]]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DatasetLayoutError(
            f"Imagenet32 files missing: {', '.join(missing)}; " + _HOW_TO_OBTAIN.replace("<root>", str(root))
        )
    batches = [read_npz_batch(path) for path in paths]
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    log.info("Imagenet32 %s: %d images from %s", split, len(labels), folder)
    return Imagenet32Dataset(images, labels, augment=augment, seed=seed)
