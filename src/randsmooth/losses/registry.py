"""Name -> training-loss registry behind :func:`get_loss`."""

from __future__ import annotations

import inspect
from typing import Any, TypeVar

from .base import TrainingLoss

_LOSSES: dict[str, type[TrainingLoss]] = {}
L = TypeVar("L", bound=type[TrainingLoss])


def register_loss(cls: L) -> L:
    """Class decorator: make ``cls`` available to :func:`get_loss` under ``cls.name``."""
    if cls.name in _LOSSES:
        raise RuntimeError(f"training loss {cls.name!r} registered twice")
    _LOSSES[cls.name] = cls
    return cls


def loss_names() -> tuple[str, ...]:
    """Names of every registered training method, sorted."""
    return tuple(sorted(_LOSSES))


def get_loss(name: str, **params: Any) -> TrainingLoss:
    """Build the training method ``name`` with hyper-parameters ``params`` (unknown ones are an error)."""
    if name not in _LOSSES:
        raise ValueError(f"unknown training method {name!r}; expected one of {loss_names()}")
    cls = _LOSSES[name]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unexpected = sorted(set(params) - set(accepted))
    if unexpected:
        raise ValueError(f"training method {name!r} got unexpected parameter(s) {unexpected}; it takes {accepted}")
    return cls(**params)
