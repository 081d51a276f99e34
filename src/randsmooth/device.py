"""Device selection shared by training and certification.

``select_device("auto")`` picks the first visible CUDA device when there is one (so
``CUDA_VISIBLE_DEVICES`` is honoured naturally) and the CPU otherwise. An explicit CUDA request on a
machine without a visible CUDA device is an error, never a silent fallback to the CPU.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where a device is selected: the error class stays torch-free
    import torch

_CUDA_PATTERN = re.compile(r"^cuda(?::(\d+))?$")


class DeviceUnavailableError(RuntimeError):
    """The configuration asks for a CUDA device that this process cannot see."""


def select_device(requested: str = "auto") -> torch.device:
    """Resolve ``requested`` ("auto", "cpu", "cuda" or "cuda:N") to a :class:`torch.device`.

    Raises :class:`DeviceUnavailableError` (a ``RuntimeError``) if CUDA is requested but not
    available (or index N is not visible) and ``ValueError`` for any other string.
    """
    import torch

    if not isinstance(requested, str):
        raise ValueError(f"device must be one of 'auto', 'cpu', 'cuda', 'cuda:N', got {requested!r}")
    name = requested.strip().lower()
    if name == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    match = _CUDA_PATTERN.match(name)
    if match is None:
        raise ValueError(f"device must be one of 'auto', 'cpu', 'cuda', 'cuda:N', got {requested!r}")
    if not torch.cuda.is_available():
        raise DeviceUnavailableError(
            f"config requests device {requested!r} but no CUDA device is visible; set device: cpu or auto"
        )
    index = match.group(1)
    if index is not None and int(index) >= torch.cuda.device_count():
        raise DeviceUnavailableError(
            f"config requests device {requested!r} but only {torch.cuda.device_count()} "
            "CUDA device(s) are visible; set device: cuda, cpu or auto"
        )
    return torch.device(name)
