"""Monte Carlo class frequencies of a smoothed classifier on a training set: soft targets and p_A.

The smoothed classifier's per-class frequencies c_k(x) / n, c_k = #{j <= n : argmax f(x + delta_j) = k},
serve twice:

* CAT-RS (Jeong et al. 2023, Sec. 3.2) trains against the frequencies of a *Gaussian teacher* on the
  training set ("smoothed prediction", n = 10,000 in the reference): :func:`compute_soft_targets`,
  saved once by ``python -m randsmooth soft-targets`` and given to training as a runtime input;
* Sun et al. (2025, Sec. 5) discard and re-weight training examples by p_A(x) = c_y(x) / n of the
  model being trained (:class:`randsmooth.losses.sun2025.Sun2025Loss`).

Reproducibility: the n samples of training example ``idx`` are cut into blocks of ``NOISE_BLOCK``
samples; block b is drawn with its own generator seeded by ``derive_seed(seed, idx, b)`` (the
scheme of :mod:`randsmooth.engine`), always as a whole block. The counts therefore do not depend on
the model batch size, on which other examples are processed, or on their order. The model runs in
eval mode under ``torch.inference_mode`` and its train/eval mode is restored afterwards.

Soft-target files (``.pt``) hold tensors only and are read with ``torch.load(weights_only=True)``:
``soft_targets`` (N, K) float32 rows summing to 1, ``num_samples`` and ``seed`` (0-dim int64).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .models import atomic_torch_save, non_finite_error, votes
from .sampling import Noise
from .seeding import derive_seed

NOISE_BLOCK = 128  # samples per independently seeded noise block


def dataset_labels(dataset: object, indices: Sequence[int]) -> torch.Tensor:
    """(len(indices),) int64 labels, from ``dataset.targets`` when present, else by reading items."""
    targets = getattr(dataset, "targets", None)
    if targets is not None and len(targets) == len(dataset):  # type: ignore[arg-type]
        return torch.as_tensor([int(targets[i]) for i in indices], dtype=torch.int64)
    return torch.as_tensor([int(dataset[i][1]) for i in indices], dtype=torch.int64)  # type: ignore[index]


def _noisy_blocks(
    dataset: object, indices: Sequence[int], noise: Noise | None, num_samples: int, seed: int, device: torch.device
) -> Iterator[tuple[int, torch.Tensor]]:
    """(position in ``indices``, noisy copies of that example) for every noise block, in order."""
    generator = torch.Generator(device=device)
    for pos, idx in enumerate(indices):
        x = torch.as_tensor(dataset[idx][0]).to(device, torch.float32)  # type: ignore[index]
        for b in range(math.ceil(num_samples / NOISE_BLOCK)):
            size = min(NOISE_BLOCK, num_samples - b * NOISE_BLOCK)
            copies = x.unsqueeze(0).expand(size, *x.shape)
            if noise is None:
                yield pos, copies
                continue
            generator.manual_seed(derive_seed(seed, int(idx), b))
            yield pos, noise.sample(copies, generator)


def _row_batches(blocks: Iterator[tuple[int, torch.Tensor]], batch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Regroup noise blocks into (inputs, owner positions) of ``batch`` rows (the last one may be shorter)."""
    rows: list[torch.Tensor] = []
    owners: list[torch.Tensor] = []
    pending = 0
    for pos, noisy in blocks:
        rows.append(noisy)
        owners.append(torch.full((noisy.shape[0],), pos, dtype=torch.int64, device=noisy.device))
        pending += noisy.shape[0]
        while pending >= batch:
            inputs, owner = torch.cat(rows), torch.cat(owners)
            yield inputs[:batch], owner[:batch]
            rows, owners, pending = [inputs[batch:]], [owner[batch:]], pending - batch
    if pending:
        yield torch.cat(rows), torch.cat(owners)


def smoothed_counts(
    model: nn.Module,
    dataset: object,
    noise: Noise | None,
    num_samples: int,
    seed: int,
    batch: int,
    device: torch.device | str,
    indices: Sequence[int] | None = None,
) -> torch.Tensor:
    """(len(indices), K) int64 class counts of ``num_samples`` noisy copies of each example (on the CPU).

    ``dataset[i]`` yields ``(x, y)`` with x in [0, 1] pixel space; ``indices`` default to all;
    ``batch`` is the number of rows per forward pass (does not change the counts); ``noise`` None
    counts clean predictions.
    """
    device = torch.device(device)
    indices = range(len(dataset)) if indices is None else indices  # type: ignore[arg-type]
    if num_samples < 1 or batch < 1 or len(indices) == 0:
        raise ValueError(f"smoothed_counts needs examples, num_samples >= 1 and batch >= 1, got {num_samples}, {batch}")
    counts: torch.Tensor | None = None
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            blocks = _noisy_blocks(dataset, indices, noise, num_samples, seed, device)
            for inputs, owner in _row_batches(blocks, batch):
                logits = model(inputs)
                if counts is None:  # one column past the classes: inputs with non-finite logits
                    counts = torch.zeros((len(indices), logits.shape[1] + 1), dtype=torch.int64, device=device)
                flat = owner * counts.shape[1] + votes(logits)
                counts.view(-1).index_add_(0, flat, torch.ones_like(flat))
    finally:
        model.train(was_training)
    counts = counts.cpu()
    bad = torch.nonzero(counts[:, -1]).flatten()
    if len(bad):
        row = int(bad[0])
        raise non_finite_error(int(indices[row]), int(counts[row, -1]), num_samples)
    return counts[:, :-1]


def compute_soft_targets(
    model: nn.Module,
    dataset: object,
    noise: Noise | None,
    num_samples: int,
    seed: int,
    batch: int,
    device: torch.device | str,
) -> torch.Tensor:
    """CAT-RS soft targets: (N_train, K) float32 class frequencies counts / num_samples of the smoothed model."""
    counts = smoothed_counts(model, dataset, noise, num_samples, seed, batch, device)
    return (counts.double() / num_samples).float()


@dataclass(frozen=True)
class SoftTargets:
    """A loaded soft-target file: ``targets`` (N, K) float32, ``num_samples`` and ``seed`` it was made with."""

    targets: torch.Tensor
    num_samples: int
    seed: int


def save_soft_targets(path: str | os.PathLike[str], targets: torch.Tensor, num_samples: int, seed: int) -> Path:
    """Write soft targets atomically as a tensors-only ``.pt`` file; returns the path."""
    _check_targets(targets, "targets")
    payload = {
        "soft_targets": targets.detach().cpu().float().contiguous(),
        "num_samples": torch.tensor(int(num_samples), dtype=torch.int64),
        "seed": torch.tensor(int(seed), dtype=torch.int64),
    }
    return atomic_torch_save(payload, path)


def _check_targets(targets: object, where: str) -> None:
    if not torch.is_tensor(targets) or targets.dim() != 2 or not targets.is_floating_point():
        raise ValueError(f"{where}: soft targets must be a 2-d float tensor (N, K)")
    t = targets.double()
    if t.numel() == 0 or not torch.isfinite(t).all() or (t < 0).any():
        raise ValueError(f"{where}: soft targets must be non-empty, finite and >= 0")
    if not torch.allclose(t.sum(dim=1), torch.ones(t.shape[0], dtype=torch.float64), atol=1e-4):
        raise ValueError(f"{where}: every row of the soft targets must sum to 1")


def load_soft_targets(
    path: str | os.PathLike[str], num_examples: int | None = None, num_classes: int | None = None
) -> SoftTargets:
    """Read a soft-target file; ``ValueError`` naming the file if it is unreadable, malformed or of the wrong shape."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"soft-targets file {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        raise ValueError(f"{path}: not a readable soft-targets file ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or set(payload) != {"soft_targets", "num_samples", "seed"}:
        raise ValueError(f"{path}: not a soft-targets file (expected keys soft_targets, num_samples, seed)")
    targets = payload["soft_targets"]
    _check_targets(targets, str(path))
    meta = [payload[key] for key in ("num_samples", "seed")]
    if not all(torch.is_tensor(v) and v.dim() == 0 and not v.is_floating_point() for v in meta):
        raise ValueError(f"{path}: num_samples and seed must be integer scalars")
    expected = (num_examples or targets.shape[0], num_classes or targets.shape[1])
    if tuple(targets.shape) != expected:
        raise ValueError(f"{path}: soft targets have shape {tuple(targets.shape)}, expected {expected}")
    return SoftTargets(targets=targets.float(), num_samples=int(meta[0]), seed=int(meta[1]))
