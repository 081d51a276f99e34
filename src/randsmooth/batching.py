"""The rows of the engine's model batches: which samples they hold and their noise.

Two parts of :class:`randsmooth.engine.CountSampler` that read alone: :func:`pack_batches` lays the
selection and estimation samples of consecutive examples end to end and cuts them into batches
(the packing; see "Speed and memory" in :mod:`randsmooth.engine`), and :class:`NoiseStreams`
writes the noisy samples of any rows (the noise streams; see "Reproducibility by construction").
:func:`pack_ranges` is the general packer: any (example, stream, start, stop) ranges, so
examples sampled in rounds (sequential certification) share batches at different rounds.
The third part, the counting (device buffers, forward passes, count matrices, CUDA graphs), is the
sampler itself.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .counts import LEGACY_RNG
from .sampling import Noise
from .sampling.philox import CounterNoise, Piece, counter_kind
from .seeding import derive_seed

STREAMS: dict[str, int] = {"selection": 0, "estimation": 1}


def block_seed(seed: int, idx: int, stream: str, block: int) -> int:
    """Seed of noise block ``block`` of ``stream`` for example ``idx`` under global ``seed``."""
    return derive_seed(seed, idx, STREAMS[stream], block)


@dataclass
class Example:
    """One example in flight: its ring slot (row of ``xbuf``, block of count rows) and stream keys."""

    idx: int
    label: int
    slot: int
    keys: tuple[int, int]
    host: torch.Tensor | None = None  # its count matrix, once copied back
    event: Any = None  # CUDA event recorded after the copy


@dataclass(frozen=True)
class Rows:
    """Rows ``row .. row + count`` of a batch: samples ``j0 ..`` of stream ``stream`` of ``example``."""

    row: int
    count: int
    example: Example
    stream: int
    j0: int


class NoiseStreams:
    """The noise of every (example, stream): writes the noisy samples of batch rows (see
    "Reproducibility by construction"). Counter-based (:class:`CounterNoise`) where the scheme and
    the family allow it, else drawn in seeded blocks of ``noise_block`` samples (the last block is
    kept, so a block cut by a batch boundary is drawn once)."""

    def __init__(
        self, noise: Noise, device: torch.device, *, seed: int, n0: int, n: int, noise_block: int, rng: str
    ) -> None:
        self.noise = noise
        self.seed, self.noise_block, self.n0, self.n = seed, noise_block, n0, n
        self._generator = torch.Generator(device=device)
        self.counter: CounterNoise | None = None
        if rng != LEGACY_RNG and counter_kind(noise) is not None:
            self.counter = CounterNoise(noise, device)
        self._block_cache: tuple[tuple[int, int, int, int], torch.Tensor] | None = None

    @property
    def uses_desc(self) -> bool:
        """Whether the noise is generated from the device-side row description (inside one kernel)."""
        return self.counter is not None and self.counter.uses_desc

    def reset(self) -> None:
        """Forget the cached block (a new sequence of examples starts)."""
        self._block_cache = None

    def fill(
        self,
        out: torch.Tensor,
        xbuf: torch.Tensor,
        rows: Sequence[Rows],
        desc: torch.Tensor | None,
        lengths: dict[int, int] | None = None,
    ) -> None:
        """Write the noisy samples of ``rows`` into ``out`` (``desc``: per-row device bookkeeping)."""
        if self.counter is not None:
            pieces = [Piece(r.row, r.count, r.example.keys[r.stream], r.j0, r.example.slot) for r in rows]
            self.counter.fill(out, xbuf, pieces, desc)
            return
        lengths = lengths or {0: self.n0, 1: self.n}
        for r in rows:
            self._block_rows(out[r.row : r.row + r.count], xbuf[r.example.slot], r, lengths[r.stream])

    def _block_rows(self, out: torch.Tensor, x: torch.Tensor, rows: Rows, length: int) -> None:
        """Block-scheme samples ``rows.j0 ..`` of one stream of length ``length`` into ``out``."""
        block, stream = self.noise_block, "selection" if rows.stream == 0 else "estimation"
        pos = 0
        while pos < rows.count:
            j = rows.j0 + pos
            b = j // block
            tag = (rows.example.idx, rows.stream, b, length)
            if self._block_cache is None or self._block_cache[0] != tag:
                size = min(block, length - b * block)
                self._generator.manual_seed(block_seed(self.seed, rows.example.idx, stream, b))
                noisy = self.noise.sample(x.unsqueeze(0).expand(size, *x.shape), self._generator)
                self._block_cache = (tag, noisy)
            noisy = self._block_cache[1]
            off = j - b * block
            take = min(noisy.shape[0] - off, rows.count - pos)
            out[pos : pos + take].copy_(noisy[off : off + take])
            pos += take


Range = tuple[Example, int, int, int]  # (example, stream, start, stop): samples start .. stop-1


def pack_ranges(next_range: Callable[[], Range | None], batch: int) -> Iterator[tuple[list[Rows], int, list[Range]]]:
    """Lay sample ranges end to end and cut them into model batches of ``batch`` rows.

    ``next_range()`` gives the next ``(example, stream, start, stop)`` range to sample, or None when
    none is available *now*: the batch built so far is then yielded even if partial, and
    ``next_range`` is asked again after the caller has handled it (so a sequential caller can add
    the next round of the examples whose round ended in that batch). The packing ends when
    ``next_range`` returns None before a batch holds any row.

    Yields ``(rows, size, finished)``: the row ranges of the batch, its number of rows and the
    ranges whose last sample is in it (in the order they were given).
    """
    current: list[Any] | None = None  # [example, stream, next j, stop, start] of the range being cut
    while True:
        rows: list[Rows] = []
        filled = 0
        finished: list[Range] = []
        while filled < batch:
            if current is None:
                got = next_range()
                if got is None:
                    break
                example, stream, start, stop = got
                if not 0 <= start <= stop:
                    raise ValueError(f"sample range must have 0 <= start <= stop, got {start}..{stop}")
                current = [example, stream, start, stop, start]
                if start == stop:
                    finished.append(got)
                    current = None
                    continue
            take = min(batch - filled, current[3] - current[2])
            rows.append(Rows(filled, take, current[0], current[1], current[2]))
            filled += take
            current[2] += take
            if current[2] == current[3]:
                finished.append((current[0], current[1], current[4], current[3]))
                current = None
        if filled == 0 and not finished:
            return
        yield rows, filled, finished


def pack_batches(
    examples: Iterator[Example], n0: int, n: int, batch: int
) -> Iterator[tuple[list[Rows], int, list[Example]]]:
    """Lay the selection (``n0``) and estimation (``n``) samples of consecutive examples end to end
    and cut them into model batches of exactly ``batch`` rows (only the last one partial).

    Yields ``(rows, size, finished)``: the row ranges of the batch, its number of rows and the
    examples whose last sample is in it. The next example is taken from ``examples`` only when the
    batch still has room, so at most ``batch // (n0 + n) + 3`` examples are in flight.
    """
    queue: deque[Range] = deque()

    def next_range() -> Range | None:
        if not queue:
            example = next(examples, None)
            if example is None:
                return None
            queue.extend(((example, 0, 0, n0), (example, 1, 0, n)))
        return queue.popleft()

    for rows, filled, finished in pack_ranges(next_range, batch):
        yield rows, filled, [r[0] for r in finished if r[1] == 1]
