"""ImageFolder-style data sets: ImageNet (user-supplied) and Imagenette (imagenette2-160, downloaded).

Layout: ``<folder>/train/<wnid>/*.JPEG`` and ``<folder>/val/<wnid>/*.JPEG``; "test" maps to
``val``. Labels follow torchvision's ``ImageFolder``: class index = position of the folder name in
the sorted list, files sorted by name within a class (so on the real ImageNet val set, Cohen's
certification subset idx 0, 100, ..., 49,900 has label idx // 50). train and val must have the
same class folders, and every class folder must hold at least one image.

* ImageNet: ``<root>/imagenet/{train,val}`` or ``<root>/{train,val}``; 1,000 class folders
  required. Train RandomResizedCrop(224) + horizontal flip; test Resize(256) + CenterCrop(224)
  (Cohen et al. 2019). Cannot be downloaded: ILSVRC2012 from image-net.org, val sorted into class
  folders with the standard valprep script.
* Imagenette: ``<root>/imagenette2-160/{train,val}`` (or ``<root>/{train,val}``), the fast.ai
  ``imagenette2-160.tgz`` (URL and md5 as in torchvision), downloaded, md5-verified and extracted
  atomically; exactly the 10 Imagenette wnids. Transforms of Xin et al. (2025): train
  RandomResizedCrop(160, scale (0.35, 1)) + horizontal flip; test Resize(192) + CenterCrop(160).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from PIL import Image
from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset
from torchvision.models import ResNet50_Weights

from .download import DatasetLayoutError, ensure_extracted
from .spec import IMAGENETTE_CLASSES, IMAGENETTE_WNIDS
from .transforms import CenterCrop, Compose, RandomFlip, RandomResizedCrop, Resize, SeededDataset, ToTensor, load_rgb

log = logging.getLogger(__name__)

IMAGENET_CLASSES: tuple[str, ...] = tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])
IMAGENET_NUM_CLASSES = 1000
IMAGENET_LAYOUT_HINT = (
    "expected <root>/train/<wnid>/*.JPEG and <root>/val/<wnid>/*.JPEG (run the standard "
    "valprep script to sort val images into class folders)"
)

IMAGENETTE_URL = "https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-160.tgz"
IMAGENETTE_MD5 = "e793b78cc4c9e9a4ccc0c1155377a412"
IMAGENETTE_FOLDER = "imagenette2-160"
IMAGENETTE_ARCHIVE = "imagenette2-160.tgz"
IMAGENETTE_LAYOUT_HINT = (
    "expected <root>/imagenette2-160/train/<wnid>/*.JPEG and "
    "<root>/imagenette2-160/val/<wnid>/*.JPEG with the 10 Imagenette wnids "
    f"(the fast.ai archive {IMAGENETTE_URL})"
)

SPLIT_FOLDERS = {"train": "train", "test": "val"}


def list_classes(split_dir: Path, hint: str) -> list[str]:
    """Sorted class sub-folder names of ``split_dir``; clear error if there are none."""
    if not split_dir.is_dir():
        raise DatasetLayoutError(f"{split_dir} is not a folder; {hint}")
    with os.scandir(split_dir) as entries:
        entries = list(entries)
    classes = sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))
    if not classes:
        loose = sum(e.is_file() and e.name.lower().endswith(IMG_EXTENSIONS) for e in entries)
        detail = f"it holds {loose} loose image files but" if loose else "it has"
        raise DatasetLayoutError(f"{split_dir}: {detail} no class sub-folders; {hint}")
    return classes


def list_samples(split_dir: Path, classes: list[str], hint: str) -> list[tuple[str, int]]:
    """(path, label) pairs in ImageFolder order; error naming any class folder without images."""
    class_to_idx = {name: k for k, name in enumerate(classes)}
    samples = make_dataset(str(split_dir), class_to_idx, extensions=IMG_EXTENSIONS, allow_empty=True)
    counts = torch.bincount(torch.tensor([label for _, label in samples], dtype=torch.long), minlength=len(classes))
    empty = [classes[k] for k in range(len(classes)) if counts[k] == 0]
    if empty:
        raise DatasetLayoutError(
            f"{split_dir}: {len(empty)} class folder(s) without images "
            f"({', '.join(empty[:5])}{', ...' if len(empty) > 5 else ''}); {hint}"
        )
    return samples


def check_class_folders(
    folder: Path, hint: str, *, expected: tuple[str, ...] | None = None, count: int | None = None
) -> list[str]:
    """Check train/ and val/ have identical class folders (and the expected set or number)."""
    train = list_classes(folder / "train", hint)
    val = list_classes(folder / "val", hint)
    if train != val:
        only_train, only_val = sorted(set(train) - set(val)), sorted(set(val) - set(train))
        raise DatasetLayoutError(
            f"{folder}: train/ and val/ have different class folders (only in train: "
            f"{only_train[:5]}, only in val: {only_val[:5]}); {hint}"
        )
    if expected is not None and tuple(train) != tuple(sorted(expected)):
        raise DatasetLayoutError(
            f"{folder}: class folders {train[:12]} are not the expected {sorted(expected)}; {hint}"
        )
    if count is not None and len(train) != count:
        raise DatasetLayoutError(f"{folder}: found {len(train)} class folders, expected {count}; {hint}")
    return train


class ImageFileDataset(SeededDataset):
    """Images read from files; ``samples`` = [(path, label)], items are float32 tensors in [0, 1]."""

    def __init__(self, samples: list[tuple[str, int]], classes: tuple[str, ...], transform: Compose, seed: int) -> None:
        super().__init__(transform, seed)
        self.samples = samples
        self.targets = [label for _, label in samples]
        self.classes = classes

    def __len__(self) -> int:
        return len(self.samples)

    def raw(self, index: int) -> tuple[Image.Image, int]:
        path, label = self.samples[index]
        return load_rgb(path), label


def _pick_folder(root: Path, name: str, classes: tuple[str, ...] | None = None) -> Path:
    """``root/name`` if it exists, else ``root`` if it has train/ (holding exactly ``classes`` if
    given) or val/, else ``root/name``."""
    named = root / name
    if named.exists():
        return named
    train = root / "train"
    if classes is not None:
        if train.is_dir() and sorted(p.name for p in train.iterdir() if p.is_dir()) == sorted(classes):
            return root
        return named
    if train.is_dir() or (root / "val").is_dir():
        return root
    return named


def _folder_dataset(
    folder: Path, split: str, classes: list[str], names: tuple[str, ...], hint: str, transform: Compose, seed: int
) -> ImageFileDataset:
    split_dir = folder / SPLIT_FOLDERS[split]
    samples = list_samples(split_dir, classes, hint)
    log.info("%s: %d images in %d classes", split_dir, len(samples), len(classes))
    return ImageFileDataset(samples, names, transform, seed)


def imagenet_transform(augment: bool) -> Compose:
    """Cohen et al.: RandomResizedCrop(224) + flip, or Resize(256) + CenterCrop(224)."""
    if augment:
        return Compose([RandomResizedCrop(224), ToTensor(), RandomFlip(dim=-1)])
    return Compose([Resize(256), CenterCrop(224), ToTensor()])


def imagenette_transform(augment: bool) -> Compose:
    """Xin et al.: RandomResizedCrop(160, scale (0.35, 1)) + flip, or Resize(192) + CenterCrop(160)."""
    if augment:
        return Compose([RandomResizedCrop(160, scale=(0.35, 1.0)), ToTensor(), RandomFlip(dim=-1)])
    return Compose([Resize(192), CenterCrop(160), ToTensor()])


def load_imagenet(split: str, root: Path, *, augment: bool, download: bool, seed: int) -> ImageFileDataset:
    """ImageNet (ILSVRC2012) ``split`` from ``root/imagenet`` or ``root`` (never downloaded)."""
    if download:
        log.info("download=True ignored for imagenet: it must be supplied by the user")
    folder = _pick_folder(root, "imagenet")
    if not folder.exists():
        raise DatasetLayoutError(
            f"ImageNet not found: neither {root / 'imagenet'} nor {root} holds train/ "
            f"and val/; {IMAGENET_LAYOUT_HINT}. Obtain ILSVRC2012 from image-net.org."
        )
    hint = IMAGENET_LAYOUT_HINT.replace("<root>", str(folder))
    classes = check_class_folders(folder, hint, count=IMAGENET_NUM_CLASSES)
    return _folder_dataset(folder, split, classes, IMAGENET_CLASSES, hint, imagenet_transform(augment), seed)


def check_imagenette_layout(folder: Path) -> None:
    """Raise :class:`DatasetLayoutError` unless ``folder`` is a complete Imagenette tree."""
    classes = check_class_folders(folder, IMAGENETTE_LAYOUT_HINT, expected=IMAGENETTE_WNIDS)
    for split_name in ("train", "val"):
        list_samples(folder / split_name, classes, IMAGENETTE_LAYOUT_HINT)


def load_imagenette(
    split: str,
    root: Path,
    *,
    augment: bool,
    download: bool,
    seed: int,
    url: str = IMAGENETTE_URL,
    md5: str = IMAGENETTE_MD5,
) -> ImageFileDataset:
    """Imagenette (imagenette2-160) ``split``, extracted / downloaded into ``root`` if needed."""
    folder = _pick_folder(root, IMAGENETTE_FOLDER, IMAGENETTE_WNIDS)
    if folder == root:
        check_imagenette_layout(folder)
    else:
        ensure_extracted(
            root,
            IMAGENETTE_FOLDER,
            IMAGENETTE_ARCHIVE,
            url=url,
            md5=md5,
            download=download,
            check=check_imagenette_layout,
            how_to_obtain=f"place {IMAGENETTE_ARCHIVE} ({url}) in {root}",
        )
    classes = list(IMAGENETTE_WNIDS)
    return _folder_dataset(
        folder, split, classes, IMAGENETTE_CLASSES, IMAGENETTE_LAYOUT_HINT, imagenette_transform(augment), seed
    )
