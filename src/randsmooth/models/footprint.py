"""Memory footprint of an architecture, measured on PyTorch's meta device (no data, no compute).

:func:`measure` builds the model on the ``meta`` device and runs one forward pass of a batch of
``batch`` images, recording

* ``params``: number of parameters (their weights, gradients and SGD momentum are 3 copies);
* ``train_bytes``: bytes per image of the tensors autograd saves for the backward pass (float32),
  counted once per storage (a tensor saved by two operations is counted once) and without the
  parameters: the activation memory of one training forward pass, linear in the batch;
* ``eval_bytes``: bytes per image of the largest input + output of one module (leaf modules and
  residual blocks) of an inference pass: the tensors alive together at the peak of a no-grad
  forward pass, linear in the batch.

The model is built on the CPU (its initialisation needs data) and moved to the meta device.
The workflow reads these numbers from a table (:data:`randsmooth.pipeline.memory.FOOTPRINTS`, so
planning needs no probe); ``benchmarks/memory_probe.py`` re-measures the table and
``tests/test_memory.py`` checks that it still matches the architectures. The GPU's own peak
(``torch.cuda.max_memory_allocated``) is larger by the backward's transient gradients, cuDNN
workspaces and the allocator's rounding: :mod:`randsmooth.pipeline.memory` adds those.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .registry import build_model

BYTES_PER_FLOAT = 4


def _tensor_bytes(value: Any) -> int:
    if torch.is_tensor(value):
        return value.numel() * value.element_size()
    if isinstance(value, (tuple, list)):
        return sum(_tensor_bytes(v) for v in value)
    return 0


def _forward_bytes(model: nn.Module, input_shape: Sequence[int], batch: int) -> tuple[int, int]:
    """(bytes saved for the backward of a training forward pass, largest input + output bytes of
    one module in an inference pass) of a batch of ``batch`` images, on the meta device."""
    params = {p.untyped_storage()._cdata for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage._cdata not in params:
            saved[storage._cdata] = storage.nbytes()
        return tensor

    x = torch.zeros((batch, *input_shape), device="meta")
    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(x)
    peak = [0]

    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        peak[0] = max(peak[0], _tensor_bytes(inputs) + _tensor_bytes(output))

    handles = [m.register_forward_hook(hook) for m in model.modules() if m is not model]
    model.eval()
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return sum(saved.values()), peak[0]


def measure(
    arch: str, input_shape: Sequence[int], num_classes: int, arch_params: dict[str, Any] | None = None
) -> dict[str, int]:
    """``{"params", "train_bytes", "eval_bytes"}`` of ``arch`` for (C, H, W) inputs (see the module):
    the bytes per image are the growth from a batch of one image to a batch of two (what does not
    grow with the batch, e.g. BatchNorm's per-channel statistics, is left out: a few KiB)."""
    channels = int(input_shape[0])
    unit = [0.5] * channels
    model = build_model(arch, num_classes=num_classes, in_channels=channels, mean=unit, std=unit, **(arch_params or {}))
    model = model.to("meta")
    one, two = _forward_bytes(model, input_shape, 1), _forward_bytes(model, input_shape, 2)
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "train_bytes": two[0] - one[0],
        "eval_bytes": two[1] - one[1],
    }
