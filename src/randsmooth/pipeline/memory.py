"""GPU memory of the GPU jobs, estimated before running (torch-free: constants as data).

Per architecture and input (C, H, W), :data:`FOOTPRINTS` holds what
:func:`randsmooth.models.footprint.measure` counts on PyTorch's meta device: the parameters, the
bytes per image that a training forward pass saves for the backward pass (float32), and the bytes
per image alive at the peak of an inference pass. ``benchmarks/memory_probe.py`` re-measures the
table; ``tests/test_memory.py`` checks it against the architectures. A combination missing from
the table is measured when the plan needs it (on the meta device: no data, no GPU, about a
second). Peak GPU memory of a job, in bytes:

* training step: OVERHEAD + 4 x 4 bytes x params (weights, gradients, SGD momentum, the step's
  temporaries) + TRAIN_SLACK x rows x train_bytes, rows = images of a micro-batch x m noisy
  copies x the forward passes the loss keeps for its one backward (``held_passes``: 2 for
  stability training, SmoothMix, CAT-RS); an attack's passes hold no more than that;
* certification: OVERHEAD + 4 bytes x params + rows x (EVAL_SLACK x eval_bytes + 2 x the input's
  bytes), rows = the noisy samples of one forward pass (the run's ``batch``).

OVERHEAD (CUDA context, cuDNN workspaces), TRAIN_SLACK (the backward's activation gradients, the
allocator's rounding) and EVAL_SLACK (a residual block's input, intermediate and output alive
together) are assumptions still to be checked against ``torch.cuda.max_memory_allocated`` on a
GPU (README, *Running on SLURM*). Mixed precision (``amp``) is not counted (it lowers the need).

With ``resources.gpu_memory_gb`` set (GiB of one GPU of the cluster), a training step that does not
fit is split into the fewest equal micro-batches that fit (``micro_batches`` of the training
config, gradient accumulation: :func:`randsmooth.train.train_one_epoch`), a certification pass
gets the largest batch that fits (at most the run's), and a job that does not fit even with one
image (one sample) is a one-line error at plan time.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from typing import Any

from .checks import data_module
from .entries import DatasetEntry

GIB = 2**30
FLOAT_BYTES = 4
OVERHEAD = int(1.5 * GIB)  # [assumed] CUDA context and cuDNN workspaces
TRAIN_SLACK = 1.25  # [assumed] activation gradients of the backward pass, allocator rounding
EVAL_SLACK = 3.0  # [assumed] a residual block's input, intermediate and output at once

# (arch, arch_params as sorted JSON, C, H, W, classes) -> measure(): params, train_bytes, eval_bytes
# (bytes per image); measured by benchmarks/memory_probe.py with torch 2 on the meta device.
FOOTPRINTS: dict[tuple[str, str, int, int, int, int], tuple[int, int, int]] = {
    ("cifar_resnet110", "{}", 3, 32, 32, 10): (1730714, 8450304, 131072),
    ("cifar_resnet56", "{}", 3, 32, 32, 10): (855770, 4321536, 131072),
    ("digits_cnn", '{"width": 16}', 1, 8, 8, 10): (15418, 35584, 16384),
    ("digits_cnn", '{"width": 8}', 1, 8, 8, 10): (4258, 17920, 8192),
    ("ham_resnet", "{}", 3, 160, 160, 10): (13635914, 30925824, 3276800),
    ("ham_resnet", "{}", 3, 299, 299, 2): (13633858, 109786540, 11520000),
    ("resnet18", "{}", 3, 224, 224, 1000): (11689512, 22179840, 6422528),
    ("resnet50", "{}", 3, 224, 224, 1000): (25557032, 85909504, 6422528),
    ("wrn40_2", "{}", 3, 32, 32, 10): (2243546, 5648896, 262144),
    ("wrn40_2", "{}", 3, 32, 32, 1000): (2371256, 5648896, 262144),
}


@functools.lru_cache(maxsize=64)
def _measured(key: tuple[str, str, int, int, int, int]) -> tuple[int, int, int]:
    from ..models.footprint import measure  # torch: only for a combination not in the table

    found = measure(key[0], key[2:5], key[5], json.loads(key[1]))
    return found["params"], found["train_bytes"], found["eval_bytes"]


_FOUND: dict[tuple[str, str, str], tuple[int, int, int, int]] = {}


def footprint(arch: str, arch_params: Mapping[str, Any], dataset: DatasetEntry) -> tuple[int, int, int, int]:
    """(params, train bytes per image, eval bytes per image, input bytes per image) of ``arch`` on
    ``dataset`` (from :data:`FOOTPRINTS`, else measured once; remembered per data set key: the
    resources of every job ask for it several times)."""
    params_json = json.dumps(dict(arch_params), sort_keys=True)
    if (arch, params_json, dataset.key) not in _FOUND:
        spec = data_module().dataset_spec(dataset.name, **dataset.loader_options())
        key = (arch, params_json, *spec.input_shape, spec.num_classes)
        params, train, evaluate = FOOTPRINTS.get(key) or _measured(key)
        _FOUND[(arch, params_json, dataset.key)] = (params, train, evaluate, math.prod(spec.input_shape) * FLOAT_BYTES)
    return _FOUND[(arch, params_json, dataset.key)]


def train_peak(fp: tuple, images: int, num_noise: int, held_passes: int) -> int:
    """Estimated peak bytes of a training step on ``images`` images (one micro-batch)."""
    params, train = fp[0], fp[1]
    rows = images * num_noise * held_passes
    return OVERHEAD + 4 * FLOAT_BYTES * params + math.ceil(TRAIN_SLACK * rows * train)


def eval_peak(fp: tuple, rows: int) -> int:
    """Estimated peak bytes of an inference pass on ``rows`` noisy samples."""
    params, evaluate, image = fp[0], fp[2], fp[3]
    return OVERHEAD + FLOAT_BYTES * params + math.ceil(rows * (EVAL_SLACK * evaluate + 2 * image))


def gpu_bytes(resources: Mapping[str, Any]) -> int | None:
    """Bytes of one GPU of the cluster (``resources.gpu_memory_gb``; None = not declared)."""
    gb = resources.get("gpu_memory_gb")
    return None if gb is None else int(gb * GIB)


def micro_batches(fp: tuple, batch: int, num_noise: int, held_passes: int, limit: int | None, where: str) -> int:
    """The fewest micro-batches (each of ceil(batch / k) images) whose training step fits in
    ``limit`` bytes (1 when ``limit`` is None); one-line error naming ``where`` if none does."""
    if limit is None:
        return 1
    for k in range(1, batch + 1):
        if train_peak(fp, math.ceil(batch / k), num_noise, held_passes) <= limit:
            return k
    need = train_peak(fp, 1, num_noise, held_passes)
    raise ValueError(
        f"config key {where!r}: one training image ({num_noise} noisy copies x {held_passes} passes) needs "
        f"about {need / GIB:.1f} GiB of GPU memory, more than resources/gpu_memory_gb = {limit / GIB:g}"
    )


def certify_batch(fp: tuple, batch: int, limit: int | None, where: str) -> int:
    """The largest certification batch <= ``batch`` whose forward pass fits in ``limit`` bytes."""
    if limit is None or eval_peak(fp, batch) <= limit:
        return batch
    params, evaluate, image = fp[0], fp[2], fp[3]
    rows = (limit - OVERHEAD - FLOAT_BYTES * params) // math.ceil(EVAL_SLACK * evaluate + 2 * image)
    if rows < 1:
        raise ValueError(
            f"config key {where!r}: one noisy sample needs about {eval_peak(fp, 1) / GIB:.1f} GiB of GPU "
            f"memory, more than resources/gpu_memory_gb = {limit / GIB:g}"
        )
    return int(rows)


def train_need(cfg: Mapping[str, Any], dataset: DatasetEntry, held_passes: int) -> int:
    """Estimated peak bytes of one training step of the resolved training config ``cfg`` (with its
    ``micro_batches``) on ``dataset``."""
    fp = footprint(cfg["model"]["arch"], cfg["model"]["params"], dataset)
    images = math.ceil(cfg["batch_size"] / cfg["micro_batches"])
    return train_peak(fp, images, cfg["num_noise"], held_passes)


def fit_training(
    resources: Mapping[str, Any], cfg: dict[str, Any], dataset: DatasetEntry, held_passes: int, where: str
) -> dict[str, Any]:
    """``cfg`` with ``micro_batches`` raised to the fewest that fit the declared GPU memory."""
    limit = gpu_bytes(resources)
    if limit is None:
        return cfg
    fp = footprint(cfg["model"]["arch"], cfg["model"]["params"], dataset)
    needed = micro_batches(fp, cfg["batch_size"], cfg["num_noise"], held_passes, limit, where)
    return {**cfg, "micro_batches": max(cfg["micro_batches"], needed)}
