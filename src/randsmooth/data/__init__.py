"""Data sets for the reproductions: digits (embedded), CIFAR-10, ImageNet, Imagenet32, Imagenette,
HAM10000.

Every data set yields ``(x, y)`` with x a float32 tensor in [0, 1] pixel space of shape
``dataset_spec(name).input_shape`` and y an int. Normalisation is *not* applied here: it belongs
in the model (``Normalize(spec.mean, spec.std)`` as its first layer), so smoothing noise is added
in [0, 1] pixel units, as in all four papers. Downloads are checksum-verified and atomic.

Entry points: :func:`load_dataset`, :func:`dataset_spec`, :func:`dataset_names`,
:func:`subset_indices`, :func:`download_file`.
"""

from .download import ChecksumError, DatasetLayoutError, download_file, extract_archive, file_checksum, verify_file
from .registry import (
    DATA_DIR_ENV,
    SPLITS,
    dataset_names,
    dataset_spec,
    default_data_dir,
    expected_split_size,
    load_dataset,
    split_size,
    subset_indices,
)
from .spec import DatasetSpec

__all__ = [
    "ChecksumError",
    "DATA_DIR_ENV",
    "DatasetLayoutError",
    "DatasetSpec",
    "SPLITS",
    "dataset_names",
    "dataset_spec",
    "default_data_dir",
    "download_file",
    "expected_split_size",
    "extract_archive",
    "file_checksum",
    "load_dataset",
    "split_size",
    "subset_indices",
    "verify_file",
]
