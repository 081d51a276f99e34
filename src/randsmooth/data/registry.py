"""Entry points: :func:`dataset_names`, :func:`dataset_spec`, :func:`load_dataset`, :func:`subset_indices`."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from torch.utils.data import Dataset

from .cifar import load_cifar10
from .digits import DIGITS_TEST_SIZE, digits_spec, load_digits_dataset
from .folders import IMAGENET_CLASSES, load_imagenet, load_imagenette
from .ham10000 import HAM_DEFAULT_SEED, HAM_IMAGE_SIZE, HAM_SPLITS, load_ham10000
from .ham10000 import expected_split_size as ham_expected_split_size
from .imagenet32 import IMAGENET32_CLASSES, load_imagenet32
from .spec import (
    CIFAR10_CLASSES,
    CIFAR10_MEAN,
    CIFAR10_STD,
    HAM_CLASSES,
    IMAGENET_MEAN,
    IMAGENET_STD,
    IMAGENETTE_CLASSES,
    DatasetSpec,
)

SPLITS = ("train", "test")
DATA_DIR_ENV = "RANDSMOOTH_DATA_DIR"


@dataclass(frozen=True)
class _Entry:
    spec: Callable[..., DatasetSpec]  # (*, seed, **options) -> spec
    loader: Callable[..., Dataset]  # (split, root, *, augment, download, seed, **options)
    options: frozenset[str] = frozenset()  # dataset-specific keyword options of the loader
    default_seed: int = 0
    needs_root: bool = True


def _static(spec: DatasetSpec) -> Callable[..., DatasetSpec]:
    return lambda *, seed, **_: spec


def _ham_spec(*, seed: int, split_by: str = "lesion", **_: Any) -> DatasetSpec:
    """HAM10000's spec; checks ``split_by`` early (before any job reads the data)."""
    if split_by not in HAM_SPLITS:
        raise ValueError(f"split_by must be one of {list(HAM_SPLITS)}, got {split_by!r}")
    return DatasetSpec("ham10000", 2, (3, HAM_IMAGE_SIZE, HAM_IMAGE_SIZE), IMAGENET_MEAN, IMAGENET_STD, HAM_CLASSES)


def _load_digits(
    split: str,
    root: Path | None,
    *,
    augment: bool,
    download: bool,
    seed: int,
    upsample: bool = False,
    test_size: float = DIGITS_TEST_SIZE,
) -> Dataset:
    return load_digits_dataset(split, augment=augment, seed=seed, upsample=upsample, test_size=test_size)


_REGISTRY: dict[str, _Entry] = {
    "digits": _Entry(
        spec=digits_spec, loader=_load_digits, options=frozenset({"upsample", "test_size"}), needs_root=False
    ),
    "cifar10": _Entry(
        spec=_static(DatasetSpec("cifar10", 10, (3, 32, 32), CIFAR10_MEAN, CIFAR10_STD, CIFAR10_CLASSES)),
        loader=load_cifar10,
        options=frozenset({"url", "checksums"}),
    ),
    "imagenet": _Entry(
        spec=_static(DatasetSpec("imagenet", 1000, (3, 224, 224), IMAGENET_MEAN, IMAGENET_STD, IMAGENET_CLASSES)),
        loader=load_imagenet,
    ),
    "imagenet32": _Entry(
        spec=_static(DatasetSpec("imagenet32", 1000, (3, 32, 32), IMAGENET_MEAN, IMAGENET_STD, IMAGENET32_CLASSES)),
        loader=load_imagenet32,
    ),
    "imagenette": _Entry(
        spec=_static(DatasetSpec("imagenette", 10, (3, 160, 160), IMAGENET_MEAN, IMAGENET_STD, IMAGENETTE_CLASSES)),
        loader=load_imagenette,
        options=frozenset({"url", "md5"}),
    ),
    "ham10000": _Entry(
        spec=_ham_spec,
        loader=load_ham10000,
        options=frozenset({"n_splits", "test_fold", "manifest", "split_by"}),
        default_seed=HAM_DEFAULT_SEED,
    ),
}


def dataset_names() -> list[str]:
    """Names accepted by :func:`dataset_spec` and :func:`load_dataset`."""
    return list(_REGISTRY)


def _entry(name: str) -> _Entry:
    if name not in _REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; expected one of {dataset_names()}")
    return _REGISTRY[name]


def _check_options(name: str, entry: _Entry, options: dict[str, Any], extra: frozenset[str] = frozenset()) -> None:
    accepted = entry.options | extra
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for dataset {name!r}; accepted: {sorted(accepted)}")


def _check_seed(entry: _Entry, seed: Any) -> int:
    """The dataset's default seed if ``seed`` is None, else ``seed`` checked to be an int >= 0."""
    if seed is None:
        return entry.default_seed
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return seed


def dataset_spec(name: str, **options: Any) -> DatasetSpec:
    """The :class:`DatasetSpec` of ``name`` under the given load options.

    Accepts the same dataset options as :func:`load_dataset` (and ``seed``); only some change the
    spec: digits ``upsample=True`` gives input_shape (3, 32, 32), and digits' normalisation
    constants are those of the training split selected by ``seed`` / ``test_size``.
    """
    entry = _entry(name)
    _check_options(name, entry, options, extra=frozenset({"seed"}))
    seed = _check_seed(entry, options.pop("seed", None))
    return entry.spec(seed=seed, **options)


# Split sizes of the published data sets (None = depends on files only the data folder has).
_SIZES: dict[str, dict[str, int]] = {
    "cifar10": {"train": 50_000, "test": 10_000},
    "imagenet": {"train": 1_281_167, "test": 50_000},
    "imagenet32": {"train": 1_281_167, "test": 50_000},
    "imagenette": {"train": 9_469, "test": 3_925},  # imagenette2-160, the default download
}
DIGITS_SIZE = 1_797  # scikit-learn's load_digits


def split_size(name: str, split: str, **options: Any) -> int | None:
    """Number of examples of ``split`` where it is known without reading the data, else None.

    Known for digits (from ``test_size``, as scikit-learn's ``train_test_split`` rounds) and for
    CIFAR-10, ImageNet and Imagenette at their default sources; HAM10000's lesion-grouped split
    depends on its metadata file. Used to reject impossible example subsets before any job runs.
    """
    _entry(name)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if name == "digits":
        test = math.ceil(float(options.get("test_size", DIGITS_TEST_SIZE)) * DIGITS_SIZE)
        return test if split == "test" else DIGITS_SIZE - test
    if name in _SIZES and not ({"url", "md5", "checksums"} & set(options)):
        return _SIZES[name][split]
    return None


def expected_split_size(name: str, split: str, **options: Any) -> int | None:
    """:func:`split_size` where known, else the size the split has on the full published data set
    (HAM10000: :func:`.ham10000.expected_split_size`); None if neither is known.

    Sizes wall times and the bill before the data is read; never used to accept or refuse a subset.
    """
    size = split_size(name, split, **options)
    if size is None and name == "ham10000":
        keys = ("n_splits", "split_by")
        return ham_expected_split_size(split, **{k: options[k] for k in keys if options.get(k) is not None})
    return size


def default_data_dir() -> Path:
    """``$RANDSMOOTH_DATA_DIR`` if set and non-empty, else ``./data``."""
    return Path(os.environ.get(DATA_DIR_ENV) or "data")


def load_dataset(
    name: str,
    split: str,
    root: str | Path | None = None,
    *,
    augment: bool | None = None,
    download: bool = False,
    seed: int | None = None,
    **options: Any,
) -> Dataset:
    """Load split ``split`` ("train" or "test") of data set ``name``.

    Items are ``(x, y)``: x a float32 tensor in [0, 1] of shape ``dataset_spec(name,
    **options).input_shape`` (no normalisation: it belongs in the model), y an int label.
    ``augment`` defaults to True for "train" and False for "test". ``root`` is the data directory
    (default :func:`default_data_dir`; unused by digits). ``download`` allows fetching cifar10 /
    imagenette (checksum-verified, atomic); imagenet, imagenet32 and ham10000 must be supplied by the user.
    ``seed`` (None = the dataset's default: 1 for ham10000, else 0) fixes the digits and
    ham10000 splits and seeds augmentation once ``dataset.set_epoch(epoch)`` is called.
    Dataset options: digits ``upsample``, ``test_size``; cifar10 ``url``, ``checksums``;
    imagenette ``url``, ``md5``; ham10000 ``split_by`` (lesion | image), ``n_splits``, ``test_fold``,
    ``manifest``.
    """
    entry = _entry(name)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} for dataset {name!r}; expected one of {list(SPLITS)}")
    _check_options(name, entry, options)
    seed = _check_seed(entry, seed)
    augment = (split == "train") if augment is None else bool(augment)
    data_dir = None if not entry.needs_root else Path(root) if root is not None else default_data_dir()
    return entry.loader(split, data_dir, augment=augment, download=download, seed=seed, **options)


def subset_indices(n: int, skip: int = 1, start: int = 0, max_count: int | None = None) -> list[int]:
    """Indices start, start + skip, ... below ``n``, at most ``max_count`` of them.

    Certification subsets: Cohen et al. use skip 20 on the CIFAR-10 test set (500 images) and
    skip 100 on ImageNet val (500 images, idx 0, 100, ..., 49,900).
    """
    for arg, value, low in (("n", n, 0), ("skip", skip, 1), ("start", start, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{arg} must be an integer >= {low}, got {value!r}")
    if max_count is not None and (isinstance(max_count, bool) or not isinstance(max_count, int) or max_count < 0):
        raise ValueError(f"max_count must be None or an integer >= 0, got {max_count!r}")
    indices = list(range(start, n, skip))
    return indices if max_count is None else indices[:max_count]
