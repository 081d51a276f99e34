"""HAM10000 dermatoscopy images as the binary malignant/benign task of Xin et al. (2025).

Obtaining the data: it is not downloaded automatically (it is not redistributed with this project;
get it under its licence terms from the Harvard Dataverse, doi:10.7910/DVN/DBW86T, or the ISIC
2018 task 3 training set). Place under ``<root>/ham10000/`` (or ``<root>/HAM10000/`` or ``<root>``):

* the metadata CSV ``HAM10000_metadata.csv`` (or the extension-less ``HAM10000_metadata`` the
  reference code expects) with at least the columns ``lesion_id``, ``image_id``, ``dx``;
* the images ``<image_id>.jpg``, directly in that folder or in ``HAM10000_images_part_1/``,
  ``HAM10000_images_part_2/`` (also ``HAM10000_images_part1/``, ``HAM10000_images_part2/``) or
  ``data/``. Metadata rows without an image are dropped (the count is logged).

Labels (Xin et al.'s convention): 0 = malignant (dx in {mel, bcc}), 1 = benign (every other dx,
including akiec), so with their cost matrix the costly error is 0 -> 1.

Split (option ``split_by``; seed default 1, the reference's random_state):

* ``"lesion"`` (default) — **a deliberate difference from the reference code**, which splits at the
  image level so that the several images of one lesion can fall on both sides and test accuracy is
  inflated by leakage. Records sorted by image_id, then scikit-learn's
  ``StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=seed)`` on the binary labels with
  groups = lesion_id, fold ``test_fold`` (default 0) as the test set (about 20 %; sizes differ
  slightly from 8012 / 2003). Manifest
  ``randsmooth_ham10000_split_seed<seed>_k<n_splits>_fold<test_fold>.csv``.
* ``"image"`` — the reference's split (Xin et al.'s ``train_test_split(test_size=0.2,
  random_state=1, stratify=y)`` on the metadata rows with an image, in file order): 8012 / 2003
  images of the full data set, 325 malignant in test; lesions leak across the split. Manifest
  ``randsmooth_ham10000_split_image_seed<seed>.csv``.

The split is written atomically to the manifest CSV next to the data (image_id, lesion_id, dx,
label, split) and later reused after validation against the metadata, so it stays fixed even if a
future scikit-learn draws it differently. Both splits list their images sorted by image_id.

Transforms: test (and ``augment=False``, which reproduces the reference) Resize(299) +
CenterCrop(299); train augmentation (our choice: the reference had none; a recipe's ``augment:
false`` trains as the reference did) RandomResizedCrop(299, scale (0.35, 1)) + horizontal and
vertical flips. No Normalize here: the model normalises with the ImageNet constants, so noise and
radii are in [0, 1] pixel units, unless the model's noise space is ``normalized``
(:mod:`randsmooth.models.noise_space`): then the noise is added after that normalisation, as in the
reference, which normalised in the transform.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from ..atomic import atomic_write_text
from .download import DatasetLayoutError
from .folders import ImageFileDataset
from .spec import HAM_CLASSES
from .transforms import CenterCrop, Compose, RandomFlip, RandomResizedCrop, Resize, ToTensor

log = logging.getLogger(__name__)

HAM_FOLDER_NAMES = ("ham10000", "HAM10000")
HAM_METADATA_NAMES = ("HAM10000_metadata.csv", "HAM10000_metadata")
HAM_IMAGE_DIRS = (
    ".",
    "HAM10000_images_part_1",
    "HAM10000_images_part_2",
    "HAM10000_images_part1",
    "HAM10000_images_part2",
    "data",
)
HAM_REQUIRED_COLUMNS = ("lesion_id", "image_id", "dx")
HAM_DX_CODES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
HAM_MALIGNANT_DX = ("mel", "bcc")
HAM_IMAGE_SIZE = 299
HAM_DEFAULT_SEED = 1
HAM_SPLITS = ("lesion", "image")  # split_by: grouped by lesion (default) or the reference's by image
HAM_IMAGE_TEST_SIZE = 0.2
HAM_IMAGES = 10_015  # images of the full data set (Tschandl et al. 2018), every one with metadata


def expected_split_size(split: str, *, n_splits: int = 5, split_by: str = "lesion") -> int:
    """Images of ``split`` when the folder holds the full data set (:data:`HAM_IMAGES`).

    ``split_by="image"``: scikit-learn's ``train_test_split(test_size=0.2)`` rounds the test set up,
    8012 / 2003 (Xin et al.'s split; the counts their code gives). ``"lesion"``: a fold of
    StratifiedGroupKFold holds about 1 / ``n_splits`` of the images, taken as ``ceil(10015 /
    n_splits)``; the real fold differs by a few images with the lesions' sizes. Only an estimate
    (for wall times and the bill): the user's metadata file decides the real split.
    """
    if split_by == "image":
        test = math.ceil(HAM_IMAGE_TEST_SIZE * HAM_IMAGES)
    else:
        test = math.ceil(HAM_IMAGES / n_splits)
    return test if split == "test" else HAM_IMAGES - test


MANIFEST_COLUMNS = ("image_id", "lesion_id", "dx", "label", "split")
_HOW_TO_OBTAIN = (
    "download HAM10000 yourself (Harvard Dataverse doi:10.7910/DVN/DBW86T or ISIC 2018 task 3) and "
    "place HAM10000_metadata.csv and the images (<image_id>.jpg, e.g. in HAM10000_images_part_1/ "
    "and HAM10000_images_part_2/) in <root>/ham10000/"
)


def ham_label(dx: str) -> int:
    """0 = malignant (mel, bcc), 1 = benign (any other diagnosis)."""
    return 0 if dx in HAM_MALIGNANT_DX else 1


def find_metadata(root: Path) -> Path:
    """Path of the metadata CSV under ``root/ham10000``, ``root/HAM10000`` or ``root``."""
    looked = []
    for folder in [root / name for name in HAM_FOLDER_NAMES] + [root]:
        for name in HAM_METADATA_NAMES:
            path = folder / name
            if path.is_file():
                return path
            looked.append(str(path))
    raise DatasetLayoutError(
        f"HAM10000 metadata CSV not found (looked for {', '.join(looked)}); "
        + _HOW_TO_OBTAIN.replace("<root>", str(root))
    )


def read_metadata(path: Path) -> pd.DataFrame:
    """The metadata rows (image_id, lesion_id, dx as str), checked for columns, duplicates and dx codes."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in HAM_REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {missing}; expected at least {list(HAM_REQUIRED_COLUMNS)} "
            f"(found {list(table.columns)})"
        )
    table = table[["image_id", "lesion_id", "dx"]].apply(lambda col: col.str.strip())
    if (table == "").any().any():
        raise ValueError(f"{path}: empty image_id, lesion_id or dx values")
    duplicated = table["image_id"][table["image_id"].duplicated()]
    if len(duplicated):
        raise ValueError(f"{path}: duplicated image_id values, e.g. {list(duplicated[:3])}")
    unknown = sorted(set(table["dx"]) - set(HAM_DX_CODES))
    if unknown:
        raise ValueError(f"{path}: unknown dx code(s) {unknown}; expected {list(HAM_DX_CODES)}")
    return table


def index_images(folder: Path) -> dict[str, Path]:
    """image_id -> path of ``<image_id>.jpg`` found in the HAM image folders (first folder wins)."""
    found: dict[str, Path] = {}
    for sub in HAM_IMAGE_DIRS:
        directory = (folder / sub) if sub != "." else folder
        if not directory.is_dir():
            continue
        with os.scandir(directory) as entries:
            for entry in entries:
                stem, ext = os.path.splitext(entry.name)
                if ext.lower() in (".jpg", ".jpeg") and entry.is_file():
                    found.setdefault(stem, Path(entry.path))
    return found


def grouped_split(labels: np.ndarray, groups: np.ndarray, *, seed: int, n_splits: int, test_fold: int) -> np.ndarray:
    """Boolean test mask: fold ``test_fold`` of StratifiedGroupKFold(n_splits, shuffle, seed)."""
    if not isinstance(n_splits, int) or n_splits < 2:
        raise ValueError(f"n_splits must be an integer >= 2, got {n_splits!r}")
    if not isinstance(test_fold, int) or not 0 <= test_fold < n_splits:
        raise ValueError(f"test_fold must be an integer in [0, {n_splits}), got {test_fold!r}")
    n_groups = len(np.unique(groups))
    if n_groups < n_splits:
        raise ValueError(f"HAM10000 split needs at least n_splits={n_splits} lesions, found {n_groups}")
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for k, (_, test_idx) in enumerate(folds.split(np.zeros(len(labels)), labels, groups)):
        if k == test_fold:
            mask = np.zeros(len(labels), dtype=bool)
            mask[test_idx] = True
            return mask
    raise AssertionError("unreachable: StratifiedGroupKFold yielded fewer folds than n_splits")


def image_split(labels: np.ndarray, *, seed: int) -> np.ndarray:
    """Boolean test mask of the reference's split: ``train_test_split(test_size=0.2,
    random_state=seed, stratify=labels)`` of the rows in the given (metadata file) order."""
    _, test_idx = train_test_split(
        np.arange(len(labels)), test_size=HAM_IMAGE_TEST_SIZE, random_state=seed, stratify=labels
    )
    mask = np.zeros(len(labels), dtype=bool)
    mask[test_idx] = True
    return mask


def build_manifest(
    records: pd.DataFrame, *, seed: int, n_splits: int, test_fold: int, split_by: str = "lesion"
) -> pd.DataFrame:
    """Manifest (image_id, lesion_id, dx, label, split) sorted by image_id; ``records`` in metadata
    file order (the image split depends on it, the lesion split sorts first)."""
    if split_by == "lesion":
        records = records.sort_values("image_id", kind="stable")
    records = records.reset_index(drop=True)
    labels = np.array([ham_label(dx) for dx in records["dx"]])
    if split_by == "image":
        is_test = image_split(labels, seed=seed)
    else:
        groups = records["lesion_id"].to_numpy()
        is_test = grouped_split(labels, groups, seed=seed, n_splits=n_splits, test_fold=test_fold)
    table = records.assign(label=labels, split=np.where(is_test, "test", "train"))[list(MANIFEST_COLUMNS)]
    return table.sort_values("image_id", kind="stable").reset_index(drop=True)


def manifest_name(split_by: str, seed: int, n_splits: int, test_fold: int) -> str:
    """File name of the split manifest of these split settings."""
    if split_by == "image":
        return f"randsmooth_ham10000_split_image_seed{seed}.csv"
    return f"randsmooth_ham10000_split_seed{seed}_k{n_splits}_fold{test_fold}.csv"


def check_no_leak(manifest: pd.DataFrame, source: str) -> None:
    """Raise if a lesion_id occurs in both splits."""
    splits_per_lesion = manifest.groupby("lesion_id")["split"].nunique()
    leaked = list(splits_per_lesion.index[splits_per_lesion > 1])
    if leaked:
        raise ValueError(f"{source}: lesion(s) {leaked[:3]} occur in both train and test")


def validate_manifest(
    manifest: pd.DataFrame, records: pd.DataFrame, path: Path, split_by: str = "lesion"
) -> pd.DataFrame:
    """Check a stored manifest against the current metadata (and, for the lesion split, that no
    lesion leaks); return it sorted by image_id."""
    fix = f"delete {path} to recompute the split"
    missing = [c for c in MANIFEST_COLUMNS if c not in manifest.columns]
    if missing:
        raise ValueError(f"split manifest {path}: missing column(s) {missing}; {fix}")
    manifest = manifest[list(MANIFEST_COLUMNS)].sort_values("image_id", kind="stable").reset_index(drop=True)
    records = records.sort_values("image_id", kind="stable").reset_index(drop=True)
    if list(manifest["image_id"]) != list(records["image_id"]):
        raise ValueError(
            f"split manifest {path} lists {len(manifest)} images, but {len(records)} with images "
            f"are in the metadata and they differ; {fix}"
        )
    for column in ("lesion_id", "dx"):
        if list(manifest[column]) != list(records[column]):
            raise ValueError(f"split manifest {path}: column {column!r} disagrees with the metadata; {fix}")
    expected_labels = [str(ham_label(dx)) for dx in manifest["dx"]]
    if list(manifest["label"].astype(str)) != expected_labels:
        raise ValueError(f"split manifest {path}: labels disagree with dx (0 = mel/bcc, 1 = other); {fix}")
    if not manifest["split"].isin(["train", "test"]).all():
        raise ValueError(f"split manifest {path}: split values must be 'train' or 'test'; {fix}")
    if split_by == "lesion":
        check_no_leak(manifest, f"split manifest {path}")
    return manifest.assign(label=[int(v) for v in expected_labels])


def write_csv_atomic(table: pd.DataFrame, path: Path) -> None:
    """Write ``table`` as CSV via a temporary file in the same directory and ``os.replace``."""
    atomic_write_text(path, table.to_csv(index=False))


def ham_split_manifest(
    root: Path,
    *,
    seed: int = HAM_DEFAULT_SEED,
    n_splits: int = 5,
    test_fold: int = 0,
    manifest: str | Path | None = None,
    split_by: str = "lesion",
) -> tuple[pd.DataFrame, dict[str, Path]]:
    """(manifest sorted by image_id, image_id -> path) for the HAM10000 data under ``root``."""
    if split_by not in HAM_SPLITS:
        raise ValueError(f"split_by must be one of {list(HAM_SPLITS)}, got {split_by!r}")
    metadata_path = find_metadata(root)
    folder = metadata_path.parent
    records = read_metadata(metadata_path)
    images = index_images(folder)
    has_image = records["image_id"].isin(images.keys())
    if not has_image.any():
        raise DatasetLayoutError(
            f"no HAM10000 image <image_id>.jpg found for the rows of {metadata_path} in "
            f"{folder} or its sub-folders {list(HAM_IMAGE_DIRS[1:])}; " + _HOW_TO_OBTAIN.replace("<root>", str(root))
        )
    if not has_image.all():
        log.warning(
            "HAM10000: %d of %d metadata rows have no image in %s and are dropped",
            int((~has_image).sum()),
            len(records),
            folder,
        )
    records = records[has_image]
    path = Path(manifest) if manifest is not None else folder / manifest_name(split_by, seed, n_splits, test_fold)
    if path.exists():
        stored = pd.read_csv(path, dtype=str, keep_default_na=False)
        table = validate_manifest(stored, records, path, split_by)
        log.info("HAM10000: reusing split manifest %s", path)
    else:
        table = build_manifest(records, seed=seed, n_splits=n_splits, test_fold=test_fold, split_by=split_by)
        if split_by == "lesion":
            check_no_leak(table, "computed HAM10000 split")
        try:
            write_csv_atomic(table, path)
            log.info("HAM10000: wrote split manifest %s", path)
        except OSError as err:
            log.warning("HAM10000: could not write split manifest %s (%s); using the computed split", path, err)
    return table, images


def ham_transform(augment: bool) -> Compose:
    """Train: RandomResizedCrop(299, scale (0.35, 1)) + h/v flips; test: Resize(299) + CenterCrop(299)."""
    if augment:
        return Compose(
            [RandomResizedCrop(HAM_IMAGE_SIZE, scale=(0.35, 1.0)), ToTensor(), RandomFlip(dim=-1), RandomFlip(dim=-2)]
        )
    return Compose([Resize(HAM_IMAGE_SIZE), CenterCrop(HAM_IMAGE_SIZE), ToTensor()])


class HamDataset(ImageFileDataset):
    """A HAM10000 split; ``records`` = its manifest rows (image_id, lesion_id, dx, label, split)."""

    def __init__(self, records: pd.DataFrame, images: dict[str, Path], transform: Compose, seed: int) -> None:
        samples = [(str(images[i]), int(label)) for i, label in zip(records["image_id"], records["label"], strict=True)]
        super().__init__(samples, HAM_CLASSES, transform, seed)
        self.records = records


def load_ham10000(
    split: str,
    root: Path,
    *,
    augment: bool,
    download: bool,
    seed: int,
    n_splits: int = 5,
    test_fold: int = 0,
    manifest: str | Path | None = None,
    split_by: str = "lesion",
) -> HamDataset:
    """The HAM10000 ``split`` (by lesion or by image, see module doc); ``records`` holds its manifest rows."""
    if download:
        log.info("download=True ignored for ham10000: it must be supplied by the user")
    table, images = ham_split_manifest(
        root, seed=seed, n_splits=n_splits, test_fold=test_fold, manifest=manifest, split_by=split_by
    )
    rows = table[table["split"] == split].reset_index(drop=True)
    dataset = HamDataset(rows, images, ham_transform(augment), seed)
    log.info(
        "HAM10000 %s: %d images (%d malignant) from %d lesions",
        split,
        len(rows),
        int((rows["label"] == 0).sum()),
        rows["lesion_id"].nunique(),
    )
    return dataset
