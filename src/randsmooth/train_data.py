"""The data of one training run: its data sets (augmented training split, test split, the
un-augmented training split loaded on first use) and its seeded loaders (:mod:`randsmooth.train`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Subset, WeightedRandomSampler


class IndexedDataset(Dataset):
    """Wrap a data set to yield ``(x, y, index)``; forwards ``set_epoch`` for seeded augmentation."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        x, y = self.dataset[index]
        return x, y, index

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)


def data_options(cfg: dict[str, Any]) -> dict[str, Any]:
    """The data set's loader options of a training config, with its split seed."""
    options = dict(cfg["dataset"]["options"])
    if cfg["dataset"]["seed"] is not None:
        options["seed"] = cfg["dataset"]["seed"]
    return options


class LazyDataset(Dataset):
    """A data set loaded on first use (the un-augmented training set, needed only by some methods)."""

    def __init__(self, load: Callable[[], Dataset]) -> None:
        self._load = load
        self._data: Dataset | None = None

    @property
    def data(self) -> Dataset:
        if self._data is None:
            self._data = self._load()
        return self._data

    @property
    def targets(self) -> Any:
        """The labels (every data set of :mod:`randsmooth.data` has them), without reading images."""
        return getattr(self.data, "targets", None)

    def __len__(self) -> int:
        return len(self.data)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        return self.data[index]


def load_plain_train(cfg: dict[str, Any]) -> Dataset:
    """The training split without augmentation (for per-example estimates such as Sun et al.'s p_A)."""
    from .data import load_dataset

    data_cfg = cfg["dataset"]
    common = dict(root=data_cfg["root"], download=data_cfg["download"], seed=data_cfg["seed"], **data_cfg["options"])
    return load_dataset(data_cfg["name"], "train", augment=False, **common)


def file_sha256(path: str | os.PathLike[str]) -> str:
    from .data import file_checksum  # imported here: only training needs the data sets

    return file_checksum(path, "sha256")


def load_data(cfg: dict[str, Any]) -> tuple[Any, Dataset, Dataset]:
    from .data import dataset_spec, load_dataset  # imported here: only training needs the data sets

    data_cfg = cfg["dataset"]
    spec = dataset_spec(data_cfg["name"], **data_options(cfg))
    common = dict(root=data_cfg["root"], download=data_cfg["download"], seed=data_cfg["seed"], **data_cfg["options"])
    train_set = load_dataset(data_cfg["name"], "train", augment=data_cfg["augment"], **common)
    test_set = load_dataset(data_cfg["name"], "test", augment=False, **common)
    if cfg["eval_examples"] is not None and cfg["eval_examples"] < len(test_set):
        test_set = Subset(test_set, range(cfg["eval_examples"]))
    return spec, train_set, test_set


def make_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool,
    seed: int,
    workers: int,
    device: torch.device,
    weights: torch.Tensor | None = None,
) -> DataLoader:
    """Shuffled (or ordered) batches; with ``weights``, len(dataset) draws with replacement from them."""
    generator = torch.Generator().manual_seed(seed)  # data order and worker seeds
    sampler = None
    if weights is not None:
        sampler = WeightedRandomSampler(weights, num_samples=len(dataset), replacement=True, generator=generator)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=workers,
        generator=generator,
        pin_memory=device.type == "cuda",
        drop_last=False,
    )
