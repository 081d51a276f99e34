"""Monte Carlo class counts of a base classifier under smoothing noise (the sampling half of CERTIFY).

For each test example the engine draws ``n0`` *selection* samples and, independently, ``n``
*estimation* samples of the configured noise, runs the base model on ``x + delta`` in batches and
records hard-vote class counts (no radii: those are pure functions of the counts, see
:mod:`randsmooth.decide`), as in Cohen et al. (2019), Algorithm CERTIFY. It also records cumulative
estimation counts at prefix budgets n' (see :func:`randsmooth.counts.default_prefix_budgets`), so
smaller budgets come for free.

Reproducibility by construction
-------------------------------
Stream ``s`` (0 = selection, 1 = estimation) of example ``idx`` under the global ``seed`` is a
fixed sequence of noise samples, never drawn from global RNG state. Two schemes, recorded as
``rng`` in the count table's metadata:

* ``"philox-v1"`` (default): counter-based noise for the Gaussian, Laplace and uniform families
  (the families the papers certify with): sample ``j`` of the stream is a pure function of
  (``derive_seed(seed, idx, s)``, j) -- Philox4x64-10 (Salmon et al. 2011), see
  :mod:`randsmooth.sampling.philox`. A whole model batch, whatever examples and streams it mixes,
  is generated in one vectorised call (one fused Triton kernel on CUDA). Other families (Gamma /
  rejection samplers) use the block scheme below.
* ``"block-v1"`` (tables written before the scheme was recorded): the samples are cut into noise
  blocks of ``noise_block`` samples; block ``b`` is drawn as a whole with its own
  ``torch.Generator`` seeded with ``derive_seed(seed, idx, s, b)``.

Either way the noise depends only on (seed, idx, stream, sample index, device type, torch version;
and ``noise_block`` for block streams), never on the model batch size, the sharding, or the order
of the examples. The counts are also batch-invariant whenever the model's argmax does not depend on
the batch composition; floating-point kernels may in principle change a logit's last bit with the
batch size or kernel choice, which can flip an exact near-tie. Models in eval mode (BatchNorm
running statistics) are otherwise per-sample functions.

Speed and memory
----------------
The samples of consecutive examples are laid end to end and cut into model batches of exactly
``batch`` rows, so only the last batch of a run is partial (a batch may hold the end of one
example and the start of the next). Noise is generated on the model's device; the model runs in
``torch.inference_mode`` and eval mode. Each batch's predictions are added on the device into a
per-example count matrix with ``scatter_add_`` (``torch.bincount`` would synchronise the host on
CUDA: it reads the maximum to size its output); the per-row bookkeeping (stream key, sample index,
count row) travels to the device in one non-blocking copy from pinned memory. Nothing inside an
example synchronises the host: each finished example's counts come back in one non-blocking
device-to-host copy, waited for only when the host is two examples ahead. Peak memory is one model
batch plus a few examples' count matrices, independent of n.

Options: ``channels_last`` converts the model and inputs to channels-last memory format (the
fused noise kernel writes that layout directly). ``fast`` (CUDA; off by default, recorded in the
count table) captures each full batch -- noise, forward, argmax and counting -- in one CUDA graph
and replays it, which removes the kernel-launch overhead that bounds small models; the partial last
batch runs eagerly, with the same kernels as the default mode, so the counts equal the default
mode's whenever graph replay runs the eager kernels (it does for plain fp32 models). ``compile``
wraps the model in ``torch.compile`` (recorded; generated kernels may change logits in the last
bit). ``autocast`` (CUDA only, off by default) runs the model in float16 mixed precision: the
certificate then applies to the *reduced-precision* network, a different base classifier from the
float32 one that was trained and is reported, and that network's outputs can depend on kernel
choices; keep it off for results you publish.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from .batching import STREAMS, Example, NoiseStreams, Rows, pack_batches
from .batching import block_seed as block_seed  # re-exported: part of the engine's interface
from .counts import (
    RNG_SCHEMES,
    RUN_DEFAULTS,
    ExampleRecord,
    RunSettings,
    RunSpec,
    check_int,
    default_prefix_budgets,
    noise_params_json,
)
from .models.logits import non_finite_error, votes
from .sampling import Noise
from .sampling.philox import stream_key
from .shards import ShardWriter

logger = logging.getLogger(__name__)

DEFAULT_NOISE_BLOCK: int = RUN_DEFAULTS["noise_block"]


@dataclass(frozen=True)
class SamplerConfig:
    """Sampling sizes and options of a certification run (the engine's fields of
    :class:`randsmooth.counts.RunSpec`, with its defaults; :meth:`of` takes them from one).

    n0: selection samples per example; n: estimation samples per example; batch: model batch
    size (does not change the counts); seed: global seed (>= 0); noise_block: samples per
    independently seeded noise block of block-scheme streams (changes those streams, so it is
    recorded); prefix_budgets: cumulative budgets to record (None: 10^2, 10^3, ... < n, then n);
    autocast: CUDA float16 autocast (see module docstring); channels_last: memory format;
    rng: ``"philox-v1"`` (default) or ``"block-v1"`` (reproduces tables written before the
    scheme was recorded); fast: CUDA-graph replay of full batches (CUDA only; a no-op on the CPU);
    compile: ``torch.compile`` the model.
    """

    n0: int
    n: int
    batch: int = RUN_DEFAULTS["batch"]
    seed: int = RUN_DEFAULTS["seed"]
    noise_block: int = DEFAULT_NOISE_BLOCK
    prefix_budgets: tuple[int, ...] | None = None
    autocast: bool = RUN_DEFAULTS["autocast"]
    channels_last: bool = RUN_DEFAULTS["channels_last"]
    rng: str = RUN_DEFAULTS["rng"]
    fast: bool = RUN_DEFAULTS["fast"]
    compile: bool = RUN_DEFAULTS["compile"]

    @classmethod
    def of(cls, spec: RunSpec, prefix_budgets: tuple[int, ...] | None = None) -> "SamplerConfig":
        """The engine's part of a run's settings (:class:`randsmooth.counts.RunSpec`)."""
        names = [f.name for f in dataclasses.fields(cls) if f.name != "prefix_budgets"]
        return cls(**{name: getattr(spec, name) for name in names}, prefix_budgets=prefix_budgets)

    def __post_init__(self) -> None:
        for name, minimum in (("n0", 1), ("n", 1), ("batch", 1), ("seed", 0), ("noise_block", 1)):
            check_int(name, getattr(self, name), minimum)
        if self.prefix_budgets is not None:
            budgets = [check_int("prefix_budgets entry", b, 1) for b in self.prefix_budgets]
            if budgets != sorted(set(budgets)) or budgets[-1] != self.n:
                raise ValueError(
                    f"prefix_budgets must be strictly increasing and end with n={self.n}, got {self.prefix_budgets!r}"
                )
        if self.rng not in RNG_SCHEMES:
            raise ValueError(f"rng must be one of {RNG_SCHEMES}, got {self.rng!r}")

    def budgets(self) -> tuple[int, ...]:
        """The prefix budgets actually recorded (sorted, last == n)."""
        if self.prefix_budgets is None:
            return default_prefix_budgets(self.n)
        return tuple(int(b) for b in self.prefix_budgets)


@contextlib.contextmanager
def _sync_debug_off(device: torch.device) -> Iterator[None]:
    """Suspend ``torch.cuda.set_sync_debug_mode`` for one-time setup (CUDA-graph capture syncs by design)."""
    if device.type != "cuda":
        yield
        return
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode(0)
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(previous)


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
        self._forward = torch.compile(self.model) if config.compile else self.model
        self.streams = NoiseStreams(
            noise,
            self.device,
            seed=config.seed,
            n0=config.n0,
            n=config.n,
            noise_block=config.noise_block,
            rng=config.rng,
        )
        self.counter = self.streams.counter
        self.graphs = config.fast and self.device.type == "cuda"
        per_example = config.n0 + config.n
        self._ring = config.batch // per_example + 3  # examples in flight (distinct within any batch)
        self._budgets = np.asarray(config.budgets(), dtype=np.int64)
        self._rows_per_example = 1 + len(self._budgets)  # selection + one row per prefix bucket
        self._buffers: dict[str, Any] = {}

    # --------------------------------------------------------------------------- noise
    @property
    def rng(self) -> str:
        """The RNG scheme of the streams (``config.rng``)."""
        return self.config.rng

    def noisy_batches(self, x: torch.Tensor, idx: int, stream: str, num: int) -> Iterator[torch.Tensor]:
        """Yield noisy copies ``x + delta_0 .. x + delta_{num-1}`` in model batches, in order.

        ``x`` is one example (C, H, W) on the device. Each yielded tensor has at most
        ``config.batch`` rows; these are the samples :meth:`sample_example` counts.
        """
        return self._noisy_range(x, idx, STREAMS[stream], 0, num, num)

    def _noisy_range(
        self, x: torch.Tensor, idx: int, s: int, start: int, stop: int, length: int
    ) -> Iterator[torch.Tensor]:
        """Samples ``start .. stop-1`` of stream ``s`` (of ``length`` samples) in model batches."""
        example = Example(int(idx), 0, 0, (stream_key(self.config.seed, idx, 0), stream_key(self.config.seed, idx, 1)))
        xbuf = x.to(self.device, torch.float32).unsqueeze(0).contiguous()
        self.streams.reset()
        for j0 in range(start, stop, self.config.batch):
            m = min(self.config.batch, stop - j0)
            out = torch.empty((m, *x.shape), device=self.device, dtype=torch.float32)
            rows = [Rows(0, m, example, s, j0)]
            desc = None
            if self.streams.uses_desc:
                desc = torch.as_tensor(self._describe(rows, m)[:3], device=self.device)
            with torch.inference_mode():
                self.streams.fill(out, xbuf, rows, desc, {s: length})
            yield out

    def count_range(self, x: Any, idx: int, stream: str, start: int, stop: int) -> np.ndarray:
        """Class counts (K,) int64 of samples ``start .. stop-1`` of one stream of example ``idx``.

        The stream is the one :meth:`run` samples (``n0`` selection / ``n`` estimation samples), so
        the counts of consecutive ranges add up to its prefix counts: the ``count_range`` callback
        of :func:`randsmooth.sequential.run_rounds`, one example at a time
        (:func:`randsmooth.rounds.run_rounds` packs many examples into full batches).
        """
        length = self.config.n0 if stream == "selection" else self.config.n
        if stream not in STREAMS or not 0 <= start <= stop <= length:
            raise ValueError(f"count_range: need a stream in {list(STREAMS)} and 0 <= start <= stop <= {length}")
        x = self._check_input(x, idx)
        counts = np.zeros(self.num_classes + 1, dtype=np.int64)  # + 1: non-finite logits (refused)
        for batch in self._noisy_range(x, idx, STREAMS[stream], start, stop, length):
            with torch.inference_mode():
                preds = self._predict(batch).cpu().numpy()
            counts += np.bincount(preds, minlength=self.num_classes + 1)
        if counts[-1]:
            raise non_finite_error(idx, int(counts[-1]), stop - start)
        return counts[:-1]

    # -------------------------------------------------------------------------- counts
    def _predict(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.config.channels_last and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with torch.autocast(
            device_type=self.device.type,
            dtype=torch.float16,
            enabled=self.config.autocast,
            cache_enabled=not self.graphs,  # cached casts do not survive CUDA-graph capture
        ):
            logits = self._forward(inputs)
        if logits.dim() != 2 or logits.shape[1] != self.num_classes:
            raise ValueError(
                f"model returned logits of shape {tuple(logits.shape)}, expected "
                f"(batch, num_classes={self.num_classes})"
            )
        return votes(logits)

    def sample_example(self, x: torch.Tensor, label: int, idx: int) -> ExampleRecord:
        """Selection counts, estimation counts and prefix counts of one example ``(x, label)``."""
        return next(self._records([(int(idx), x, int(label))]))

    def _check_input(self, x: Any, idx: int) -> torch.Tensor:
        if not torch.is_tensor(x):
            x = torch.as_tensor(np.asarray(x))
        if not x.is_floating_point() or x.numel() != self.noise.dim:
            raise ValueError(
                f"example {idx}: expected a float tensor with {self.noise.dim} coordinates "
                f"(the noise dim), got dtype {x.dtype} shape {tuple(x.shape)}"
            )
        return x

    # ------------------------------------------------------------------------ pipeline
    def _setup(self, shape: tuple[int, ...]) -> dict[str, Any]:
        """Device buffers shared by all runs of this sampler (created for the first example's shape)."""
        bufs = self._buffers
        if bufs.get("shape") is None:
            dev, rows = self.device, self._ring * self._rows_per_example + 1  # + 1: a row CUDA graphs' warm-up uses
            bufs["shape"] = tuple(shape)
            bufs["xbuf"] = torch.zeros((self._ring, *shape), dtype=torch.float32, device=dev)
            # one column past the classes counts the noisy inputs with non-finite logits (refused)
            bufs["counts"] = torch.zeros((rows, self.num_classes + 1), dtype=torch.int64, device=dev)
            bufs["ones"] = torch.ones(self.config.batch, dtype=torch.int64, device=dev)
        bufs["counts"].zero_()
        return bufs

    def _new_inputs(self, rows: int, shape: tuple[int, ...]) -> torch.Tensor:
        fmt = torch.channels_last if self.config.channels_last and len(shape) == 3 else torch.contiguous_format
        return torch.empty((rows, *shape), dtype=torch.float32, device=self.device, memory_format=fmt)

    def _start(self, idx: int, x: Any, label: int, slot: int, bufs: dict[str, Any]) -> Example:
        """Validate an example, copy it into its ``xbuf`` slot (non-blocking on CUDA)."""
        x = self._check_input(x, idx)
        if not 0 <= label < self.num_classes:
            raise ValueError(f"example {idx}: label {label} outside [0, num_classes={self.num_classes})")
        x = x.reshape(bufs["shape"])
        target = bufs["xbuf"][slot]
        with torch.inference_mode():
            if self.device.type == "cuda" and x.device.type == "cpu":
                target.copy_(x.to(torch.float32).pin_memory(), non_blocking=True)
            else:
                target.copy_(x)
        keys = (stream_key(self.config.seed, idx, 0), stream_key(self.config.seed, idx, 1))
        return Example(idx, label, slot, keys)

    def _describe(self, rows: Sequence[Rows], num_rows: int) -> np.ndarray:
        """Per-row bookkeeping (4, num_rows) int64: stream key, sample index, xbuf slot, count row."""
        desc = np.empty((4, num_rows), dtype=np.int64)
        for r in rows:
            sl = slice(r.row, r.row + r.count)
            j = np.arange(r.j0, r.j0 + r.count, dtype=np.int64)
            desc[0, sl] = r.example.keys[r.stream]
            desc[1, sl] = j
            desc[2, sl] = r.example.slot
            base = r.example.slot * self._rows_per_example
            desc[3, sl] = base if r.stream == 0 else base + 1 + np.searchsorted(self._budgets, j, side="right")
        return desc

    def _to_device(self, desc: np.ndarray) -> torch.Tensor:
        host = torch.from_numpy(desc)
        if self.device.type != "cuda":
            return host.to(self.device)
        return host.pin_memory().to(self.device, non_blocking=True)

    def _count(self, preds: torch.Tensor, desc: torch.Tensor, bufs: dict[str, Any]) -> None:
        index = torch.add(preds, desc[3, : preds.shape[0]], alpha=self.num_classes + 1)
        bufs["counts"].view(-1).scatter_add_(0, index, bufs["ones"][: preds.shape[0]])

    def _step(self, inputs: torch.Tensor, desc: torch.Tensor, rows: Sequence[Rows], bufs: dict[str, Any]) -> None:
        """One model batch: noise into ``inputs`` (if not done by the caller), forward, count."""
        if self.streams.uses_desc:
            self.counter.fill(inputs, bufs["xbuf"], (), desc)
        elif rows:
            self.streams.fill(inputs, bufs["xbuf"], rows, None)
        self._count(self._predict(inputs), desc, bufs)

    def _graph(self, bufs: dict[str, Any]) -> dict[str, Any]:
        """The CUDA graph of a full batch (captured once per sampler; see the module docstring)."""
        if "graph" in bufs:
            return bufs["graph"]
        batch = self.config.batch
        static = {"inputs": self._new_inputs(batch, bufs["shape"])}
        desc = torch.zeros((4, batch), dtype=torch.int64, device=self.device)
        desc[3].fill_(bufs["counts"].shape[0] - 1)  # the spare count row
        static["desc"] = desc
        noise_inside = self.streams.uses_desc
        with _sync_debug_off(self.device), torch.inference_mode():
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                for _ in range(3):  # warm-up: allocator, cuDNN/cuBLAS handles, torch.compile
                    self._step(static["inputs"], desc, (), bufs)
            torch.cuda.current_stream(self.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._step(static["inputs"], desc, (), bufs)
            bufs["counts"][-1].zero_()
        static.update(graph=graph, noise_inside=noise_inside)
        bufs["graph"] = static
        logger.info("captured a CUDA graph of one batch of %d (noise %s)", batch, "inside" if noise_inside else "eager")
        return static

    @torch.inference_mode()
    def _run_batch(self, rows: Sequence[Rows], num_rows: int, bufs: dict[str, Any]) -> None:
        desc_host = self._describe(rows, num_rows)
        if self.graphs and num_rows == self.config.batch:
            static = self._graph(bufs)
            if self.device.type == "cuda":
                static["desc"].copy_(torch.from_numpy(desc_host).pin_memory(), non_blocking=True)
            if not static["noise_inside"]:
                self.streams.fill(static["inputs"], bufs["xbuf"], rows, None)
            static["graph"].replay()
            return
        self._step(self._new_inputs(num_rows, bufs["shape"]), self._to_device(desc_host), rows, bufs)

    @torch.inference_mode()
    def _copy_back(self, example: Example, bufs: dict[str, Any]) -> None:
        """Start copying an example's count rows to the host and clear them on the device."""
        lo = example.slot * self._rows_per_example
        block = bufs["counts"][lo : lo + self._rows_per_example]
        if self.device.type == "cuda":
            example.host = torch.empty(block.shape, dtype=torch.int64, pin_memory=True)
            example.host.copy_(block, non_blocking=True)
            example.event = torch.cuda.Event()
            example.event.record()
        else:
            example.host = block.to("cpu", copy=True)
        block.zero_()

    def _record(self, example: Example, time_s: float) -> ExampleRecord:
        if example.event is not None:
            example.event.synchronize()  # the one wait per example
        host = example.host.numpy()
        if host[:, -1].any():
            raise non_finite_error(example.idx, int(host[:, -1].sum()), self.config.n0 + self.config.n)
        host = host[:, :-1]
        prefix = np.cumsum(host[1:], axis=0)
        return ExampleRecord(
            idx=example.idx,
            label=example.label,
            counts_selection=host[0].copy(),
            counts_estimation=prefix[-1].copy(),
            prefix_budgets=self._budgets.copy(),
            counts_prefix=prefix,
            time_s=time_s,
        )

    def _records(self, items: Iterable[tuple[int, Any, int]]) -> Iterator[ExampleRecord]:
        """Counts of each ``(idx, x, label)`` in ``items``, in order (see "Speed and memory")."""
        cfg = self.config
        items = iter(items)
        pending: deque[Example] = deque()  # finished examples whose counts are on their way back
        bufs: dict[str, Any] | None = None
        failure: Exception | None = None

        def started() -> Iterator[Example]:
            """The examples of ``items``, validated and copied to the device, in their ring slots."""
            nonlocal bufs, failure
            count = 0
            while True:
                try:
                    item = next(items, None)
                except Exception as exc:  # noqa: BLE001 - finish the examples already started first
                    failure = exc
                    return
                if item is None:
                    return
                idx, x, label = item
                if bufs is None:
                    bufs = self._setup(tuple(self._check_input(x, idx).shape))
                yield self._start(idx, x, label, count % self._ring, bufs)
                count += 1

        last = time.perf_counter()
        self.streams.reset()
        for rows, filled, finished in pack_batches(started(), cfg.n0, cfg.n, cfg.batch):
            self._run_batch(rows, filled, bufs)
            for example in finished:
                self._copy_back(example, bufs)
                pending.append(example)
            while pending and (len(pending) > 2 or pending[0].event is None or pending[0].event.query()):
                record = self._record(pending.popleft(), time.perf_counter() - last)
                last = time.perf_counter()
                yield record
        while pending:
            record = self._record(pending.popleft(), time.perf_counter() - last)
            last = time.perf_counter()
            yield record
        if failure is not None:
            raise failure

    def run(self, dataset: Any, indices: Iterable[int], *, progress: bool = False) -> Iterator[ExampleRecord]:
        """Yield an :class:`ExampleRecord` for each ``dataset[i]`` = (x, label), i in ``indices``.

        ``time_s`` of a record is the wall time since the previous record (examples overlap in
        the pipeline, so this attributes the run's total time without double counting).
        """
        indices = list(indices)

        def items() -> Iterator[tuple[int, Any, int]]:
            for i in indices:
                x, label = dataset[i]
                yield int(i), x, int(label)

        for record in with_progress(self._records(items()), progress, len(indices), "certify"):
            logger.debug(
                "idx %d label %d: selection top %d, estimation top %d (%d/%d), %.2f s",
                record.idx,
                record.label,
                int(record.counts_selection.argmax()),
                int(record.counts_estimation.argmax()),
                int(record.counts_estimation.max()),
                self.config.n,
                record.time_s,
            )
            yield record


def with_progress(
    records: Iterator[ExampleRecord], progress: bool, total: int | None, desc: str
) -> Iterator[ExampleRecord]:
    """``records`` as they come, counted on a tqdm bar of examples when ``progress``."""
    if not progress:
        yield from records
        return
    from tqdm import tqdm

    with tqdm(records, total=total, desc=desc, unit="ex", dynamic_ncols=True) as bar:
        yield from bar


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
        "rng": (c.rng, settings.rng),
        "fast": (c.fast, settings.fast),
        "compile": (c.compile, settings.compile),
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
