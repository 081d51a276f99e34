"""Architecture registry: ``create_model(arch, dataset)`` -> ``Sequential(Normalize, net)``.

Every model takes inputs in [0, 1] pixel space of shape (N, C, H, W); index 0 of the returned
``nn.Sequential`` is :class:`~randsmooth.models.normalize.Normalize` with the data set's mean/std and
index 1 is the network. The returned module carries ``randsmooth_meta`` (a plain dict: arch,
num_classes, in_channels, arch_params, dataset) that :func:`~randsmooth.models.checkpoint.save_checkpoint`
stores so a checkpoint can be rebuilt without the data set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torchvision
from torch import nn

from .cifar_resnet import CifarResNet
from .ham_resnet import HamResNet
from .normalize import Normalize
from .small import DigitsCNN
from .wide_resnet import WideResNet

Builder = Callable[..., nn.Module]  # builder(num_classes=..., in_channels=..., **arch_params)
_ARCHS: dict[str, Builder] = {}


def register_arch(name: str) -> Callable[[Builder], Builder]:
    """Decorator: make ``builder(num_classes, in_channels, **params) -> nn.Module`` available as ``name``."""

    def decorate(builder: Builder) -> Builder:
        if name in _ARCHS:
            raise RuntimeError(f"architecture {name!r} registered twice")
        _ARCHS[name] = builder
        return builder

    return decorate


def arch_names() -> tuple[str, ...]:
    """Names of every registered architecture, sorted."""
    return tuple(sorted(_ARCHS))


@register_arch("cifar_resnet20")
def _cifar_resnet20(num_classes: int, in_channels: int) -> nn.Module:
    return CifarResNet(20, num_classes, in_channels)


@register_arch("cifar_resnet56")
def _cifar_resnet56(num_classes: int, in_channels: int) -> nn.Module:
    return CifarResNet(56, num_classes, in_channels)


@register_arch("cifar_resnet110")
def _cifar_resnet110(num_classes: int, in_channels: int) -> nn.Module:
    return CifarResNet(110, num_classes, in_channels)


@register_arch("wrn40_2")
def _wrn40_2(num_classes: int, in_channels: int, drop_rate: float = 0.0) -> nn.Module:
    return WideResNet(40, 2, num_classes, in_channels, drop_rate)


def _torchvision_resnet(factory: Callable[..., nn.Module], num_classes: int, in_channels: int) -> nn.Module:
    net = factory(weights=None, num_classes=num_classes)
    if in_channels != 3:  # keep the stem's shape otherwise
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    return net


@register_arch("resnet18")
def _resnet18(num_classes: int, in_channels: int) -> nn.Module:
    return _torchvision_resnet(torchvision.models.resnet18, num_classes, in_channels)


@register_arch("resnet50")
def _resnet50(num_classes: int, in_channels: int) -> nn.Module:
    return _torchvision_resnet(torchvision.models.resnet50, num_classes, in_channels)


@register_arch("ham_resnet")
def _ham_resnet(num_classes: int, in_channels: int) -> nn.Module:
    return HamResNet(num_classes, in_channels)


@register_arch("digits_cnn")
def _digits_cnn(num_classes: int, in_channels: int, width: int = 32) -> nn.Module:
    return DigitsCNN(num_classes, in_channels, width)


def build_model(
    arch: str,
    *,
    num_classes: int,
    in_channels: int,
    mean: Sequence[float],
    std: Sequence[float],
    dataset: str | None = None,
    **arch_params: Any,
) -> nn.Sequential:
    """``Sequential(Normalize(mean, std), net)`` for a registered ``arch``, independent of the data module."""
    if arch not in _ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; expected one of {arch_names()}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if len(mean) != in_channels or len(std) != in_channels:
        raise ValueError(f"mean/std must have one entry per input channel ({in_channels}), got {mean!r}, {std!r}")
    try:
        net = _ARCHS[arch](num_classes=num_classes, in_channels=in_channels, **arch_params)
    except TypeError as exc:
        raise ValueError(f"architecture {arch!r} does not accept parameters {sorted(arch_params)}: {exc}") from None
    model = nn.Sequential(Normalize(mean, std), net)
    model.randsmooth_meta = {
        "arch": arch,
        "num_classes": int(num_classes),
        "in_channels": int(in_channels),
        "arch_params": dict(arch_params),
        "dataset": dataset,
    }
    return model


def create_model(
    arch: str, dataset: Any, *, dataset_options: dict[str, Any] | None = None, **arch_params: Any
) -> nn.Sequential:
    """Model ``arch`` for ``dataset`` (a :class:`randsmooth.data.DatasetSpec` or a data set name).

    num_classes, input channels and the normalisation constants come from the data set spec;
    ``dataset_options`` are passed to ``dataset_spec`` when ``dataset`` is a name; ``arch_params``
    go to the architecture (e.g. ``width`` for digits_cnn, ``drop_rate`` for wrn40_2).
    """
    if isinstance(dataset, str):
        from ..data import dataset_spec  # imported lazily: the data module is optional for loading models

        spec = dataset_spec(dataset, **(dataset_options or {}))
    else:
        spec = dataset
    return build_model(
        arch,
        num_classes=int(spec.num_classes),
        in_channels=int(spec.input_shape[0]),
        mean=list(spec.mean),
        std=list(spec.std),
        dataset=spec.name,
        **arch_params,
    )
