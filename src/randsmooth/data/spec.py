"""Static description of a data set: shape, classes and the model-side normalisation constants.

Every data set in :mod:`randsmooth.data` yields images in [0, 1] pixel space. Normalisation is
done **inside the model** (a fixed ``Normalize(mean, std)`` layer in front of the network), so
Gaussian noise is added in pixel units and radii are in [0, 1] pixel units over d = C*H*W
coordinates, as in all four reproduced papers. ``DatasetSpec.mean`` / ``DatasetSpec.std`` are the
constants that layer should use.

Deliberate differences from Xin et al. (2025): their Imagenette model had no normalisation at
all, and their HAM10000 pipeline normalised in the data transform (so its noise and radii were in
normalised units). Here both use the ImageNet constants inside the model, which keeps noise and
radii in [0, 1] pixel units for every data set.
"""

from __future__ import annotations

from dataclasses import dataclass

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# Imagenette class folders (WordNet ids) in sorted order, i.e. ImageFolder label order, and the
# first common name of each (the names torchvision's Imagenette class uses).
IMAGENETTE_WNIDS = (
    "n01440764",
    "n02102040",
    "n02979186",
    "n03000684",
    "n03028079",
    "n03394916",
    "n03417042",
    "n03425413",
    "n03445777",
    "n03888257",
)
IMAGENETTE_CLASSES = (
    "tench",
    "English springer",
    "cassette player",
    "chain saw",
    "church",
    "French horn",
    "garbage truck",
    "gas pump",
    "golf ball",
    "parachute",
)

# Xin et al. convention: label 0 = malignant (mel, bcc), 1 = benign; the costly error is 0 -> 1.
HAM_CLASSES = ("malignant", "benign")

DIGITS_CLASSES = tuple(str(k) for k in range(10))


@dataclass(frozen=True)
class DatasetSpec:
    """Shape, classes and model-side normalisation constants of one data set.

    ``input_shape`` is (C, H, W) of the tensors the data set yields (pixels in [0, 1]);
    ``mean``/``std`` (length C) are the constants of the model's Normalize layer;
    ``class_names[k]`` is the name of integer label k.
    """

    name: str
    num_classes: int
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        channels = self.input_shape[0]
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise ValueError(f"input_shape must be (C, H, W) with positive entries, got {self.input_shape}")
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError(
                f"mean and std must have {channels} entries (one per channel), got {self.mean} and {self.std}"
            )
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive, got {self.std}")
        if len(self.class_names) != self.num_classes:
            raise ValueError(
                f"class_names must have num_classes={self.num_classes} entries, got {len(self.class_names)}"
            )

    @property
    def dim(self) -> int:
        """Number of input coordinates d = C*H*W (the dimension the noise and radii live in)."""
        c, h, w = self.input_shape
        return c * h * w
