"""Monte Carlo class counts of a base classifier under smoothing noise (the sampling half of CERTIFY).

For each test example the engine draws ``n0`` *selection* samples and, independently, ``n``
*estimation* samples of the configured noise, runs the base model on ``x + delta`` in batches and
records hard-vote class counts (no radii: those are pure functions of the counts, see
:mod:`randsmooth.decide`). It also records cumulative estimation counts at prefix budgets n' (see
:func:`randsmooth.counts.default_prefix_budgets`), so smaller budgets come for free.

Reproducibility by construction
-------------------------------
The samples of one (example, stream) pair are cut into fixed *noise blocks* of ``noise_block``
samples (the last block may be shorter; its size depends only on n). Block ``b`` of stream ``s``
(0 = selection, 1 = estimation) of example ``idx`` is drawn with its own ``torch.Generator`` on
the model's device, seeded with :func:`randsmooth.seeding.derive_seed` ``(seed, idx, s, b)``,
always as a whole block. Model batches are assembled from (parts of) blocks. Hence the noise --
for every family, including vectorised / rejection samplers such as Gamma -- depends only on
(seed, idx, stream, block size, device type, torch version), never on the model batch size, the
sharding, or the order of the examples; and the global RNG state is never used.

The counts are also batch-invariant whenever the model's argmax does not depend on the batch
composition; floating-point kernels may in principle change a logit's last bit with the batch
size, which can flip an exact near-tie. Models in eval mode (BatchNorm running statistics) are
otherwise per-sample functions.

Speed and memory
----------------
Noise is generated on the model's device; the model runs in ``torch.inference_mode`` and eval
mode; predictions are counted on the device with ``torch.bincount`` and copied to the host once
per example (no per-batch synchronisation). Peak memory is one model batch plus one noise block,
independent of n. ``channels_last`` optionally converts the model and inputs to channels-last
memory format (often faster for convolutions). ``autocast`` (CUDA only, off by default) runs the
model in float16 mixed precision: the certificate then applies to the *reduced-precision* network,
a different base classifier from the float32 one that was trained and is reported, and that
network's outputs can depend on kernel choices; keep it off for results you publish.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from .counts import ExampleRecord, RunSettings, check_int, default_prefix_budgets, noise_params_json
from .sampling import Noise
from .seeding import derive_seed
from .shards import ShardWriter

logger = logging.getLogger(__name__)

STREAMS: dict[str, int] = {"selection": 0, "estimation": 1}
DEFAULT_NOISE_BLOCK = 128


def block_seed(seed: int, idx: int, stream: str, block: int) -> int:
    """Seed of noise block ``block`` of ``stream`` for example ``idx`` under global ``seed``."""
    return derive_seed(seed, idx, STREAMS[stream], block)


@dataclass(frozen=True)
class SamplerConfig:
    """Sampling sizes and options of a certification run.

    n0: selection samples per example; n: estimation samples per example; batch: model batch
    size (does not change the counts); seed: global seed (>= 0); noise_block: samples per
    independently seeded noise block (changes the random streams, so it is recorded);
    prefix_budgets: cumulative budgets to record (None: 10^2, 10^3, ... < n, then n);
    autocast: CUDA float16 autocast (see module docstring); channels_last: memory format.
    """

    n0: int
    n: int
    batch: int = 400
    seed: int = 0
    noise_block: int = DEFAULT_NOISE_BLOCK
    prefix_budgets: tuple[int, ...] | None = None
    autocast: bool = False
    channels_last: bool = False

    def __post_init__(self) -> None:
        for name, minimum in (("n0", 1), ("n", 1), ("batch", 1), ("seed", 0), ("noise_block", 1)):
            check_int(name, getattr(self, name), minimum)
        if self.prefix_budgets is not None:
            budgets = [check_int("prefix_budgets entry", b, 1) for b in self.prefix_budgets]
            if budgets != sorted(set(budgets)) or budgets[-1] != self.n:
                raise ValueError(
                    f"prefix_budgets must be strictly increasing and end with n={self.n}, got {self.prefix_budgets!r}"
                )

    def budgets(self) -> tuple[int, ...]:
        """The prefix budgets actually recorded (sorted, last == n)."""
        if self.prefix_budgets is None:
            return default_prefix_budgets(self.n)
        return tuple(int(b) for b in self.prefix_budgets)


class CountSampler:
    """Samples class counts of ``model`` under ``noise`` on ``device``.

    ``model`` maps a float32 batch (N, C, H, W) in [0, 1] pixel space (normalisation inside the
    model) to logits (N, num_classes). It is put in eval mode (and channels-last if configured).
    """

    def __init__(
        self, model: nn.Module, noise: Noise, num_classes: int, device: torch.device | str, config: SamplerConfig
    ) -> None:
        self.device = torch.device(device)
        self.num_classes = check_int("num_classes", num_classes, 1)
        if config.autocast and self.device.type != "cuda":
            raise ValueError(f"autocast is only supported on CUDA devices, got device {self.device}")
        self.config = config
        self.noise = noise
        self.model = model.eval()
        if config.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self._generator = torch.Generator(device=self.device)

    # --------------------------------------------------------------------------- noise
    def noisy_batches(self, x: torch.Tensor, idx: int, stream: str, num: int) -> Iterator[torch.Tensor]:
        """Yield noisy copies ``x + delta_0 .. x + delta_{num-1}`` in model batches, in order.

        ``x`` is one example (C, H, W) on the device. Each yielded tensor has at most
        ``config.batch`` rows and may be a reused buffer: consume it before advancing.
        """
        batch, block = self.config.batch, self.config.noise_block
        xb = x.unsqueeze(0)
        buf: torch.Tensor | None = None
        filled = 0
        for b in range(-(-num // block)):
            size = min(block, num - b * block)
            self._generator.manual_seed(block_seed(self.config.seed, idx, stream, b))
            noisy = self.noise.sample(xb.expand(size, *x.shape), self._generator)
            pos = 0
            while pos < size:
                if filled == 0 and size - pos >= batch:  # a whole batch inside this block: no copy
                    yield noisy[pos : pos + batch]
                    pos += batch
                    continue
                if buf is None:
                    buf = torch.empty((min(batch, num), *x.shape), device=x.device, dtype=noisy.dtype)
                take = min(batch - filled, size - pos)
                buf[filled : filled + take].copy_(noisy[pos : pos + take])
                filled += take
                pos += take
                if filled == batch:
                    yield buf
                    filled = 0
        if filled:
            yield buf[:filled]

    # -------------------------------------------------------------------------- counts
    def _predict(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.config.channels_last and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.config.autocast):
            logits = self.model(inputs)
        if logits.dim() != 2 or logits.shape[1] != self.num_classes:
            raise ValueError(
                f"model returned logits of shape {tuple(logits.shape)}, expected "
                f"(batch, num_classes={self.num_classes})"
            )
        return logits.argmax(dim=1)

    def stream_counts(
        self, x: torch.Tensor, idx: int, stream: str, num: int, budgets: Sequence[int] = ()
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Class counts of ``num`` noisy samples of ``x`` and cumulative counts at ``budgets``.

        Returns device tensors: counts (K,) int64 and prefix counts (len(budgets), K) int64
        (row j = counts of the first ``budgets[j]`` samples; budgets sorted, each <= num).
        """
        k = self.num_classes
        counts = torch.zeros(k, dtype=torch.int64, device=self.device)
        snapshots: list[torch.Tensor] = []
        done, j = 0, 0
        with torch.inference_mode():
            for inputs in self.noisy_batches(x, idx, stream, num):
                preds = self._predict(inputs)
                m = preds.shape[0]
                while j < len(budgets) and budgets[j] <= done + m:
                    snapshots.append(counts + torch.bincount(preds[: budgets[j] - done], minlength=k))
                    j += 1
                counts += torch.bincount(preds, minlength=k)
                done += m
        prefix = torch.stack(snapshots) if snapshots else counts.new_zeros((0, k))
        return counts, prefix

    def sample_example(self, x: torch.Tensor, label: int, idx: int) -> ExampleRecord:
        """Selection counts, estimation counts and prefix counts of one example ``(x, label)``."""
        start = time.perf_counter()
        x = self._check_input(x, idx)
        budgets = self.config.budgets()
        sel, _ = self.stream_counts(x, idx, "selection", self.config.n0)
        est, prefix = self.stream_counts(x, idx, "estimation", self.config.n, budgets)
        k = self.num_classes
        host = torch.cat([sel, est, prefix.reshape(-1)]).cpu().numpy()  # the one sync per example
        return ExampleRecord(
            idx=int(idx),
            label=int(label),
            counts_selection=host[:k],
            counts_estimation=host[k : 2 * k],
            prefix_budgets=np.asarray(budgets, dtype=np.int64),
            counts_prefix=host[2 * k :].reshape(len(budgets), k),
            time_s=time.perf_counter() - start,
        )

    def _check_input(self, x: Any, idx: int) -> torch.Tensor:
        if not torch.is_tensor(x):
            x = torch.as_tensor(np.asarray(x))
        if not x.is_floating_point() or x.numel() != self.noise.dim:
            raise ValueError(
                f"example {idx}: expected a float tensor with {self.noise.dim} coordinates "
                f"(the noise dim), got dtype {x.dtype} shape {tuple(x.shape)}"
            )
        return x.to(self.device, torch.float32)

    def run(self, dataset: Any, indices: Iterable[int], *, progress: bool = False) -> Iterator[ExampleRecord]:
        """Yield an :class:`ExampleRecord` for each ``dataset[i]`` = (x, label), i in ``indices``."""
        indices = list(indices)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(indices), desc="certify", unit="ex", dynamic_ncols=True)
        try:
            for i in indices:
                x, label = dataset[i]
                label = int(label)
                if not 0 <= label < self.num_classes:
                    raise ValueError(f"example {i}: label {label} outside [0, num_classes={self.num_classes})")
                record = self.sample_example(x, label, i)
                logger.debug(
                    "idx %d label %d: selection top %d, estimation top %d (%d/%d), %.2f s",
                    i,
                    label,
                    int(record.counts_selection.argmax()),
                    int(record.counts_estimation.argmax()),
                    int(record.counts_estimation.max()),
                    self.config.n,
                    record.time_s,
                )
                if bar is not None:
                    bar.update(1)
                yield record
        finally:
            if bar is not None:
                bar.close()


def check_settings(sampler: CountSampler, settings: RunSettings) -> None:
    """Raise ``ValueError`` unless ``settings`` describe what ``sampler`` actually samples."""
    c, noise = sampler.config, sampler.noise
    pairs = {
        "n0": (c.n0, settings.n0),
        "n": (c.n, settings.n),
        "seed": (c.seed, settings.seed),
        "noise_block": (c.noise_block, settings.noise_block),
        "prefix_budgets": (list(c.budgets()), settings.prefix_budgets),
        "num_classes": (sampler.num_classes, settings.num_classes),
        "noise": (noise.name, settings.noise),
        "sigma": (noise.sigma, settings.sigma),
        "dim": (noise.dim, settings.dim),
        "noise_params": (noise_params_json(noise.params()), noise_params_json(settings.noise_params)),
        "autocast": (c.autocast, settings.autocast),
        "device_type": (sampler.device.type, settings.device_type),
    }
    diffs = [f"{name} {mine!r} != {theirs!r}" for name, (mine, theirs) in pairs.items() if mine != theirs]
    if diffs:
        raise ValueError(f"sampler and run settings disagree: {'; '.join(diffs)} [sampler != settings]")


def sample_shard(sampler: CountSampler, dataset: Any, writer: ShardWriter, *, progress: bool = False) -> Path:
    """Sample every index of ``writer``'s shard not done yet, append the rows, and finalize.

    If interrupted, the rows done so far stay in the progress file and a new :class:`ShardWriter`
    with the same settings resumes from there.
    """
    check_settings(sampler, writer.settings)
    for record in sampler.run(dataset, writer.todo(), progress=progress):
        writer.append(record)
    return writer.finalize()
