"""Saving and loading model checkpoints (ours, Cohen et al.'s published layout, MACER's layout).

Our format is a dict of tensors and plain containers only, so it loads with
``torch.load(weights_only=True)``; it keeps the keys of Cohen's ``checkpoint.pth.tar`` (``arch``,
``state_dict``, ``epoch`` = number of completed epochs, ``optimizer``) and adds ``dataset``,
``dataset_options``, ``model`` (num_classes, in_channels, arch_params), ``scheduler``, ``rng``,
``extra`` and ``randsmooth_version``. ``state_dict`` is that of ``Sequential(Normalize, net)``:
keys ``0.mean``, ``0.std`` and ``1.*``.

:func:`load_model` also reads

* **Cohen et al. 2019** (``locuslab/smoothing``): ``{'arch', 'state_dict', 'epoch', 'optimizer'}``
  with keys ``1.*`` (CIFAR) or ``1.module.*`` (ImageNet, DataParallel) and no ``0.mean``/``0.std``
  (their NormalizeLayer had no buffers); mean/std are those of the reference code for the data
  set implied by ``arch`` (cifar_resnet* -> cifar10, resnet50 -> imagenet). Xin et al.'s Gaussian
  trainer writes the same layout.
* **MACER / Xin et al. 2025 Margin-CS** (``{'net', 'epoch'}``, keys ``1.*`` for CIFAR or bare keys
  for ``ham_resnet``): the architecture must be given explicitly.
"""

from __future__ import annotations

import collections
import os
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import __version__
from ..atomic import atomic_path
from .registry import arch_names, build_model

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# arch -> (data set, num_classes, mean, std) as hard-wired in the reference code for its checkpoints
REFERENCE_ARCH_DATASETS: dict[str, tuple[str, int, tuple[float, ...], tuple[float, ...]]] = {
    "cifar_resnet20": ("cifar10", 10, CIFAR10_MEAN, CIFAR10_STD),
    "cifar_resnet56": ("cifar10", 10, CIFAR10_MEAN, CIFAR10_STD),
    "cifar_resnet110": ("cifar10", 10, CIFAR10_MEAN, CIFAR10_STD),
    "resnet50": ("imagenet", 1000, IMAGENET_MEAN, IMAGENET_STD),
}
LAYOUTS = ("auto", "randsmooth", "cohen", "macer")
_PLAIN_DICTS = (dict, collections.OrderedDict, collections.Counter)


def _check_plain(obj: Any, where: str) -> None:
    """Raise ValueError unless ``obj`` is made of tensors and plain containers/scalars only."""
    if obj is None or isinstance(obj, (bool, int, float, str, torch.Tensor)):
        return
    if type(obj) in _PLAIN_DICTS:
        for key, value in obj.items():
            if not isinstance(key, (str, int, float, bool)):
                raise ValueError(f"checkpoint entry {where} has a key of type {type(key).__name__}")
            _check_plain(value, f"{where}[{key!r}]")
        return
    if type(obj) in (list, tuple):
        for i, value in enumerate(obj):
            _check_plain(value, f"{where}[{i}]")
        return
    raise ValueError(
        f"checkpoint entry {where} has type {type(obj).__name__}; only tensors and plain "
        "containers are allowed (torch.load(weights_only=True) must work)"
    )


def _canonical(obj: Any) -> Any:
    """Fresh copies of the plain containers of ``obj`` with every string interned (tensors kept).

    Pickle memoises containers and strings by object identity, so equal checkpoints whose strings
    or containers happen to be shared differently (e.g. optimizer keys read back from a checkpoint
    on resume) would otherwise serialise to different bytes; after this the bytes depend on the
    values only.
    """
    if type(obj) is str:
        return sys.intern(obj)
    if type(obj) in _PLAIN_DICTS:
        copy = type(obj)()
        for key, value in obj.items():
            copy[_canonical(key)] = _canonical(value)
        return copy
    if type(obj) in (list, tuple):
        return type(obj)(_canonical(value) for value in obj)
    return obj


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save`` to a temporary file next to ``path``, then ``os.replace`` it into place."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(obj, handle)
        handle.flush()
        os.fsync(handle.fileno())
    return Path(path)


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    model: nn.Module,
    arch: str,
    dataset: Any,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    epoch: int,
    extra: dict[str, Any] | None = None,
    dataset_options: dict[str, Any] | None = None,
    rng: dict[str, Any] | None = None,
    model_kwargs: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically and return its path.

    ``model`` is a ``Sequential(Normalize, net)`` (as built by :func:`create_model`); ``dataset`` a
    data set name or spec; ``epoch`` the number of completed epochs; ``rng`` generator states
    (tensors); ``extra`` any further plain data. ``model_kwargs`` (num_classes, in_channels,
    arch_params) default to ``model.randsmooth_meta``.
    """
    meta = model_kwargs if model_kwargs is not None else getattr(model, "randsmooth_meta", None)
    if meta is None or "num_classes" not in meta or "in_channels" not in meta:
        raise ValueError(
            "save_checkpoint needs model_kwargs with num_classes and in_channels (or a model built by create_model)"
        )
    if meta.get("arch", arch) != arch:
        raise ValueError(f"save_checkpoint: arch {arch!r} differs from the model's {meta['arch']!r}")
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    if "0.mean" not in state or "0.std" not in state:
        raise ValueError("save_checkpoint expects Sequential(Normalize, net): state_dict has no 0.mean/0.std")
    checkpoint = {
        "arch": arch,
        "state_dict": state,
        "epoch": int(epoch),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "dataset": dataset if isinstance(dataset, str) else str(dataset.name),
        "dataset_options": dict(dataset_options or {}),
        "model": {
            "num_classes": int(meta["num_classes"]),
            "in_channels": int(meta["in_channels"]),
            "arch_params": dict(meta.get("arch_params") or {}),
        },
        "rng": dict(rng or {}),
        "extra": dict(extra or {}),
        "randsmooth_version": __version__,
    }
    _check_plain(checkpoint, "checkpoint")
    return atomic_torch_save(_canonical(checkpoint), path)  # same values, same bytes


def load_checkpoint(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> dict[str, Any]:
    """``torch.load(path, map_location=device, weights_only=True)`` with one-line errors naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, ... for bad files
        if "Weights only load failed" in str(exc):  # torch's own text advises weights_only=False: never do that
            reason = "it holds Python objects besides tensors and plain containers, which are never unpickled"
        else:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            reason = f"{type(exc).__name__}: {reason[:200]}"
        raise ValueError(
            f"{path}: not a readable torch checkpoint ({reason}); "
            "expected a file written by torch.save containing only tensors and plain containers"
        ) from None
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{path}: checkpoint is a {type(checkpoint).__name__}, expected a dict")
    return checkpoint


def _detect_layout(checkpoint: dict[str, Any], path: Path) -> str:
    if "randsmooth_version" in checkpoint:
        return "randsmooth"
    if "state_dict" in checkpoint and "arch" in checkpoint:
        return "cohen"
    if "net" in checkpoint:
        return "macer"
    raise ValueError(
        f"{path}: unrecognised checkpoint with keys {sorted(map(str, checkpoint))[:8]}; expected "
        "ours ('randsmooth_version', 'state_dict', ...), Cohen's ('arch', 'state_dict') or MACER's ('net')"
    )


def _require(checkpoint: dict[str, Any], key: str, path: Path, layout: str) -> Any:
    if key not in checkpoint:
        raise ValueError(f"{path}: {layout} checkpoint is missing key {key!r}")
    return checkpoint[key]


def _split_state_dict(state: dict[str, Any], path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Normalize entries, network entries) from any of the supported key layouts."""
    if not isinstance(state, dict) or not state:
        raise ValueError(f"{path}: state dict is empty or not a dict")
    if all(key.startswith("module.") for key in state):  # DataParallel around the whole model
        state = {key[len("module.") :]: value for key, value in state.items()}
    if not any(key.startswith(("0.", "1.")) for key in state):
        return {}, dict(state)  # bare network keys (MACER's ham_resnet)
    norm = {key[2:]: value for key, value in state.items() if key.startswith("0.")}
    net = {key[2:]: value for key, value in state.items() if key.startswith("1.")}
    stray = [key for key in state if not key.startswith(("0.", "1."))]
    if stray:
        raise ValueError(f"{path}: unexpected state-dict keys {stray[:5]}; expected '0.*' (normalisation) and '1.*'")
    if net and all(key.startswith("module.") for key in net):  # Cohen's ImageNet: 1.module.*
        net = {key[len("module.") :]: value for key, value in net.items()}
    return norm, net


def _load_strict(module: nn.Module, state: dict[str, Any], path: Path, what: str) -> None:
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        detail = " ".join(str(exc).split())
        raise ValueError(f"{path}: state dict does not match {what} ({detail[:300]})") from None
    problems = []
    if result.missing_keys:
        problems.append(f"missing {result.missing_keys[:5]}")
    if result.unexpected_keys:
        problems.append(f"unexpected {result.unexpected_keys[:5]}")
    if problems:
        raise ValueError(f"{path}: state dict does not match {what} ({'; '.join(problems)})")


def _reference_dataset(
    arch: str, dataset: str | None, dataset_options: dict[str, Any] | None, path: Path
) -> tuple[str, int, int, list[float], list[float]]:
    """(data set, num_classes, in_channels, mean, std) for a reference-code checkpoint."""
    if dataset is None:
        if arch not in REFERENCE_ARCH_DATASETS:
            raise ValueError(f"{path}: cannot infer the data set of arch {arch!r}; pass dataset= explicitly")
        name, num_classes, mean, std = REFERENCE_ARCH_DATASETS[arch]
        return name, num_classes, len(mean), list(mean), list(std)
    from ..data import dataset_spec

    spec = dataset_spec(dataset, **(dataset_options or {}))
    return spec.name, int(spec.num_classes), int(spec.input_shape[0]), list(spec.mean), list(spec.std)


def load_model(
    path: str | os.PathLike[str],
    device: str | torch.device = "cpu",
    *,
    arch: str | None = None,
    dataset: str | None = None,
    dataset_options: dict[str, Any] | None = None,
    layout: str = "auto",
) -> tuple[nn.Sequential, dict[str, Any]]:
    """Rebuild ``Sequential(Normalize, net)`` from a checkpoint, in eval mode on ``device``.

    ``layout`` is "auto" (detected from the keys), "randsmooth", "cohen" or "macer". ``arch`` is
    required for MACER checkpoints (and must agree with a stored one); ``dataset`` (+ options)
    overrides the data set implied by a reference arch (required for e.g. ``ham_resnet``; uses
    :func:`randsmooth.data.dataset_spec`). Returns ``(model, info)`` with info keys path, layout,
    arch, dataset, dataset_options, epoch, num_classes, in_channels, extra.
    """
    path = Path(path)
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    checkpoint = load_checkpoint(path, device)
    layout = _detect_layout(checkpoint, path) if layout == "auto" else layout
    if layout == "randsmooth":
        model, info = _load_ours(checkpoint, path)
        if arch is not None and arch != info["arch"]:
            raise ValueError(f"{path}: checkpoint arch is {info['arch']!r} but arch={arch!r} was requested")
    else:
        stored_arch = _require(checkpoint, "arch", path, layout) if layout == "cohen" else None
        if arch is not None and stored_arch is not None and arch != stored_arch:
            raise ValueError(f"{path}: checkpoint arch is {stored_arch!r} but arch={arch!r} was requested")
        arch = arch or stored_arch
        if arch is None:
            raise ValueError(f"{path}: {layout} checkpoints do not record the architecture; pass arch=")
        if arch not in arch_names():
            raise ValueError(f"{path}: unknown architecture {arch!r}; expected one of {arch_names()}")
        state = _require(checkpoint, "state_dict" if layout == "cohen" else "net", path, layout)
        name, num_classes, in_channels, mean, std = _reference_dataset(arch, dataset, dataset_options, path)
        model = build_model(arch, num_classes=num_classes, in_channels=in_channels, mean=mean, std=std, dataset=name)
        norm, net = _split_state_dict(state, path)
        _load_strict(model[1], net, path, f"architecture {arch!r}")
        if norm:
            _load_strict(model[0], norm, path, "the Normalize layer (0.mean, 0.std)")
        info = {
            "layout": layout,
            "arch": arch,
            "dataset": name,
            "dataset_options": dict(dataset_options or {}),
            "epoch": checkpoint.get("epoch"),
            "num_classes": num_classes,
            "in_channels": in_channels,
            "extra": {},
        }
    info["path"] = str(path)
    return model.to(device).eval(), info


def load_pretrained(model: nn.Sequential, path: str | os.PathLike[str]) -> list[str]:
    """Start ``model`` (``Sequential(Normalize, net)``) from the network of a pre-trained checkpoint.

    Every weight of ``net`` whose shape matches is copied; the layers whose shape differs (the
    classifier of another number of classes) and the ``Normalize`` constants (those of the new data
    set) keep their own, as rs4a's fine-tuning (``strict=False`` without the classifier). Returns the
    names of the ``net`` entries not copied. Another architecture (other parameter names) is a
    ``ValueError`` naming the file.
    """
    source, _ = load_model(path, "cpu")
    pretrained, target = source[1].state_dict(), model[1].state_dict()
    if set(pretrained) != set(target):
        raise ValueError(f"{path}: a network of another architecture than the model's (its parameter names differ)")
    copied = {k: v for k, v in pretrained.items() if v.shape == target[k].shape}
    model[1].load_state_dict(copied, strict=False)
    return sorted(set(target) - set(copied))


def _load_ours(checkpoint: dict[str, Any], path: Path) -> tuple[nn.Sequential, dict[str, Any]]:
    arch = _require(checkpoint, "arch", path, "randsmooth")
    state = _require(checkpoint, "state_dict", path, "randsmooth")
    spec = _require(checkpoint, "model", path, "randsmooth")
    for key in ("num_classes", "in_channels"):
        if key not in spec:
            raise ValueError(f"{path}: randsmooth checkpoint entry 'model' is missing key {key!r}")
    norm, net = _split_state_dict(state, path)
    if "mean" not in norm or "std" not in norm:
        raise ValueError(f"{path}: randsmooth checkpoint state_dict is missing '0.mean'/'0.std'")
    model = build_model(
        arch,
        num_classes=int(spec["num_classes"]),
        in_channels=int(spec["in_channels"]),
        mean=norm["mean"].tolist(),
        std=norm["std"].tolist(),
        dataset=checkpoint.get("dataset"),
        **dict(spec.get("arch_params") or {}),
    )
    _load_strict(model[1], net, path, f"architecture {arch!r}")
    _load_strict(model[0], norm, path, "the Normalize layer (0.mean, 0.std)")
    info = {
        "layout": "randsmooth",
        "arch": arch,
        "dataset": checkpoint.get("dataset"),
        "dataset_options": dict(checkpoint.get("dataset_options") or {}),
        "epoch": checkpoint.get("epoch"),
        "num_classes": int(spec["num_classes"]),
        "in_channels": int(spec["in_channels"]),
        "extra": dict(checkpoint.get("extra") or {}),
        "randsmooth_version": checkpoint.get("randsmooth_version"),
    }
    return model, info
