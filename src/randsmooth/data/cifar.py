"""CIFAR-10 from the official python-pickle release, with an atomic, checksum-verified download.

Layout (the official ``cifar-10-python.tar.gz``)::

    <root>/cifar-10-batches-py/{data_batch_1..data_batch_5, test_batch, batches.meta}

Each batch is a pickled dict with ``b"data"`` (n x 3072 uint8, channel-major 3 x 32 x 32 rows)
and ``b"labels"`` (n ints in 0..9). Official URL and md5 values are those of torchvision's
``CIFAR10`` class; torchvision's class itself is not used (its fixed integrity table would reject
test fakes and its download is not atomic). The md5 table can be replaced through the
``checksums`` option (key ``"archive"`` for the archive, file names for the extracted files; a
file without an entry is not verified).

Transforms (Cohen et al. 2019; also Yang, Sun, Xin): train RandomCrop(32, padding 4) + horizontal
flip; test none. Images are returned as float32 tensors in [0, 1] (normalisation is in the model).

Note: batches are read with :mod:`pickle`; only load files you trust (the checksums do that for
the official release).
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from .download import DatasetLayoutError, ensure_extracted, verify_file
from .spec import CIFAR10_CLASSES
from .transforms import Compose, RandomCrop, RandomFlip, SeededDataset

log = logging.getLogger(__name__)

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{k}" for k in range(1, 6))
CIFAR10_TEST_FILES = ("test_batch",)
CIFAR10_META_FILE = "batches.meta"
CIFAR10_MD5: Mapping[str, str] = {
    "archive": "c58f30108f718f92721af3b95e74349a",
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
_EXPECTED_LAYOUT = (
    f"expected <root>/{CIFAR10_FOLDER}/{{{', '.join(CIFAR10_TRAIN_FILES)}, "
    f"{', '.join(CIFAR10_TEST_FILES)}, {CIFAR10_META_FILE}}} (the python version of "
    f"CIFAR-10, {CIFAR10_URL})"
)


def check_cifar10_layout(folder: Path) -> None:
    """Raise :class:`DatasetLayoutError` naming every missing file of the batch folder."""
    names = CIFAR10_TRAIN_FILES + CIFAR10_TEST_FILES + (CIFAR10_META_FILE,)
    missing = [str(folder / name) for name in names if not (folder / name).is_file()]
    if missing:
        raise DatasetLayoutError(f"CIFAR-10 files missing: {', '.join(missing)}; {_EXPECTED_LAYOUT}")


def _field(entry: dict, key: str, path: Path) -> Any:
    for candidate in (key.encode(), key):
        if candidate in entry:
            return entry[candidate]
    raise ValueError(f"{path} is not a CIFAR-10 batch: no {key!r} key (keys: {sorted(map(str, entry))})")


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (n, 3, 32, 32), labels int64 (n,)) of one pickled CIFAR-10 batch file."""
    with open(path, "rb") as f:
        entry = pickle.load(f, encoding="bytes")
    if not isinstance(entry, dict):
        raise ValueError(f"{path} is not a CIFAR-10 batch: expected a pickled dict, got {type(entry).__name__}")
    data = np.asarray(_field(entry, "data", path))
    labels = np.asarray(_field(entry, "labels", path), dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{path}: 'data' must be uint8 of shape (n, 3072), got {data.dtype} {data.shape}")
    if labels.shape != (data.shape[0],) or labels.min(initial=0) < 0 or labels.max(initial=0) > 9:
        raise ValueError(f"{path}: 'labels' must be {data.shape[0]} integers in 0..9")
    return data.reshape(-1, 3, 32, 32), labels


class CIFAR10Dataset(SeededDataset):
    """One CIFAR-10 split held in memory as uint8; items are float32 (3, 32, 32) in [0, 1]."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, *, augment: bool, seed: int) -> None:
        ops = [RandomCrop(32, padding=4), RandomFlip(dim=-1)] if augment else []
        super().__init__(Compose(ops), seed)
        self.data = images
        self.targets = [int(v) for v in labels]
        self.classes = CIFAR10_CLASSES

    def __len__(self) -> int:
        return len(self.targets)

    def raw(self, index: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(self.data[index]).to(torch.float32).div_(255.0), self.targets[index]


def load_cifar10(
    split: str,
    root: Path,
    *,
    augment: bool,
    download: bool,
    seed: int,
    url: str = CIFAR10_URL,
    checksums: Mapping[str, str] | None = None,
) -> CIFAR10Dataset:
    """Load a CIFAR-10 split from ``root`` (extracting / downloading the archive if needed)."""
    table = dict(CIFAR10_MD5 if checksums is None else checksums)
    folder = ensure_extracted(
        root,
        CIFAR10_FOLDER,
        CIFAR10_ARCHIVE,
        url=url,
        md5=table.get("archive"),
        download=download,
        check=check_cifar10_layout,
        how_to_obtain=f"place {CIFAR10_ARCHIVE} ({url}) in {root}",
    )
    names = CIFAR10_TRAIN_FILES if split == "train" else CIFAR10_TEST_FILES
    for name in names + (CIFAR10_META_FILE,):
        if table.get(name):
            verify_file(folder / name, md5=table[name])
    batches = [read_batch(folder / name) for name in names]
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    log.info("CIFAR-10 %s: %d images from %s", split, len(labels), folder)
    return CIFAR10Dataset(images, labels, augment=augment, seed=seed)
