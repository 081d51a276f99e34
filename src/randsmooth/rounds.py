"""Sequential certification in the engine: examples sampled in rounds, packed into full batches.

:func:`run_rounds` drives a :class:`randsmooth.engine.CountSampler` with a stopping rule (a
:class:`RoundsRule`, e.g. :class:`randsmooth.sequential.Rule`, which the caller passes in: this
module is in the counts layer and does not import the decisions). Reproducibility as in the
engine: sample j of a stream is a pure function of (seed, example, stream, j) under
``rng="philox-v1"``, so the counts at every checkpoint reached equal the fixed-N run's prefix
counts there, independent of batch size, sharding and the order in which examples stop.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol

import numpy as np
import torch

from .batching import pack_ranges
from .counts import LEGACY_RNG, ExampleRecord
from .engine import CountSampler, check_settings, with_progress
from .models.logits import non_finite_error
from .shards import ShardWriter


class RoundsRule(Protocol):
    """What :func:`run_rounds` needs of a stopping rule (e.g.
    :class:`randsmooth.sequential.Rule`): its checkpoints and whether an example stops."""

    checkpoints: np.ndarray

    def stops(self, counts_selection: np.ndarray, counts_at_checkpoints: np.ndarray) -> bool: ...


def run_rounds(
    sampler: CountSampler, dataset: Any, indices: Iterable[int], rule: RoundsRule, *, progress: bool = False
) -> Iterator[ExampleRecord]:
    """Sequential certification: sample each ``dataset[i]`` in rounds until ``rule`` stops it.

    Round t draws the estimation samples ``n_{t-1} .. n_t - 1`` (round 0 also the ``n0``
    selection samples) for the rule's checkpoints n_0 < ... < n_T = ``config.n``, which must be
    the sampler's prefix budgets; after each round ``rule.stops(counts_selection,
    counts_at_checkpoints)`` decides whether the example goes on. Examples at different rounds
    share model batches (:func:`randsmooth.batching.pack_ranges`), so batches stay full while
    examples are left. Sample j of a stream is the one ``CountSampler.run`` draws, so an example's counts
    at each checkpoint reached equal the fixed-N run's prefix counts there, whatever the batch
    size; samples after the stop are never drawn (``rng="block-v1"`` is refused: its streams
    depend on their length).

    Yields, in the order examples stop, an :class:`ExampleRecord` whose ``prefix_budgets`` are
    the checkpoints reached (the last one is the samples used), ``counts_prefix`` the
    cumulative counts there and ``counts_estimation`` the counts at the stop. One host
    synchronisation per model batch in which a round ends (to read the counts the rule needs).
    """
    cfg = sampler.config
    if cfg.rng == LEGACY_RNG:
        raise ValueError(
            f"sequential sampling needs rng 'philox-v1' (block-v1 streams depend on their length), got {cfg.rng!r}"
        )
    cps = np.asarray(rule.checkpoints, dtype=np.int64)
    if not np.array_equal(cps, sampler._budgets):
        raise ValueError(
            f"the rule's checkpoints {cps.tolist()[:4]}...{cps[-1]} must be the sampler's prefix budgets "
            f"(SamplerConfig(n={int(cps[-1])}, prefix_budgets=rule checkpoints))"
        )
    # examples in flight: enough that their smallest rounds fill two batches (at most 512)
    smallest = min(cfg.n0 + int(cps[0]), int(np.diff(cps).min()) if cps.size > 1 else cfg.n0 + int(cps[0]))
    ring = min(2 * -(-cfg.batch // smallest) + 4, 512)
    if sampler._buffers.get("shape") is not None and sampler._buffers["xbuf"].shape[0] < ring:
        sampler._buffers = {}
    sampler._ring = max(sampler._ring, ring)
    indices = list(indices)
    yield from with_progress(
        _rounds(sampler, dataset, indices, rule, cps), progress, len(indices), "certify (sequential)"
    )


def _rounds(
    sampler: CountSampler, dataset: Any, indices: list[int], rule: RoundsRule, cps: np.ndarray
) -> Iterator[ExampleRecord]:
    """The examples' records in the order they stop (:func:`run_rounds`, after its checks)."""
    cfg = sampler.config
    items = iter(indices)
    state: dict[str, Any] = {"bufs": None, "free": deque(range(sampler._ring)), "ready": deque(), "round": {}}

    def next_range() -> Any:
        if state["ready"]:
            return state["ready"].popleft()
        if not state["free"]:
            return None
        i = next(items, None)
        if i is None:
            return None
        x, label = dataset[i]
        if state["bufs"] is None:
            state["bufs"] = sampler._setup(tuple(sampler._check_input(x, int(i)).shape))
        example = sampler._start(int(i), x, int(label), state["free"].popleft(), state["bufs"])
        state["round"][example.slot] = 0
        state["ready"].append((example, 1, 0, int(cps[0])))
        return (example, 0, 0, cfg.n0)

    last = time.perf_counter()
    sampler.streams.reset()
    for rows, filled, finished in pack_ranges(next_range, cfg.batch):
        bufs = state["bufs"]
        if filled:
            sampler._run_batch(rows, filled, bufs)
        ended = [r[0] for r in finished if r[1] == 1]
        if not ended:
            continue
        lo = [e.slot * sampler._rows_per_example for e in ended]
        with torch.inference_mode():
            host = torch.stack([bufs["counts"][a : a + sampler._rows_per_example] for a in lo]).cpu().numpy()
        for example, block in zip(ended, host, strict=True):
            t = state["round"][example.slot]
            if block[:, -1].any():  # the column past the classes: noisy inputs with non-finite logits
                raise non_finite_error(example.idx, int(block[:, -1].sum()), cfg.n0 + int(cps[t]))
            block = block[:, :-1]
            totals = np.cumsum(block[1 : t + 2], axis=0)
            if t + 1 < cps.size and not rule.stops(block[0], totals):
                state["round"][example.slot] = t + 1
                state["ready"].append((example, 1, int(cps[t]), int(cps[t + 1])))
                continue
            with torch.inference_mode():
                bufs["counts"][example.slot * sampler._rows_per_example :][: sampler._rows_per_example].zero_()
            state["free"].append(example.slot)
            now = time.perf_counter()
            record = ExampleRecord(
                example.idx,
                example.label,
                block[0].copy(),
                totals[-1].copy(),
                cps[: t + 1].copy(),
                totals,
                now - last,
            )
            last = now
            yield record


def sample_shard_rounds(
    sampler: CountSampler, dataset: Any, writer: ShardWriter, rule: RoundsRule, *, progress: bool = False
) -> Path:
    """:func:`randsmooth.engine.sample_shard` for a sequential run: sample every index of
    ``writer``'s shard not done yet in rounds under ``rule``, append the rows, and finalize
    (resumable like a fixed-N shard: an example is recorded once it has stopped)."""
    check_settings(sampler, writer.settings)
    if writer.settings.sequential is None:
        raise ValueError("sample_shard_rounds: the run settings have no sequential entry")
    for record in run_rounds(sampler, dataset, writer.todo(), rule, progress=progress):
        writer.append(record)
    return writer.finalize()
