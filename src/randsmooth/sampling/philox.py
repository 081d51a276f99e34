"""Counter-based smoothing noise (RNG scheme ``"philox-v1"``) for the Gaussian, Laplace and uniform families.

The noise of sample ``j`` of one random stream is a pure function of (stream key, j): any set of
samples, of any stream, can be generated in one vectorised call, in any order and batch layout,
and gives the same numbers. The engine (:mod:`randsmooth.engine`) keys the stream of example
``idx``, stream ``s`` (0 = selection, 1 = estimation) under the global ``seed`` with
:func:`stream_key` = :func:`randsmooth.seeding.derive_seed` ``(seed, idx, s)``.

Bits
----
Philox4x64-10 (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3"), exactly the
bit generator of ``numpy.random.Philox``: key ``(stream key, 0)``, 256-bit counter
``(j * Q + q, 0, 0, 0)``. Sample ``j`` of a ``d``-coordinate stream uses ``W = ceil(d / 2)``
64-bit words, the words ``4q .. 4q + 3`` coming from the Philox block with counter ``j * Q + q``,
``q = 0 .. Q - 1``, ``Q = ceil(W / 4)``. Word ``m`` serves coordinates ``2m`` (its low 32 bits)
and ``2m + 1`` (its high 32 bits).

Transforms (float32; ``lo``/``hi`` = the two 32-bit halves of a word, ``h`` = a coordinate's half)
----------------------------------------------------------------------------------------------------
* Gaussian (Box-Muller): ``r = sqrt(-2 ln((lo + 1) 2^-32))``, ``t = 2 pi hi 2^-32``; coordinates
  ``2m, 2m + 1`` get ``r cos t``, ``r sin t``. Exactly N(0, 1) up to the 32-bit resolution of the
  uniforms (tail to 6.66 standard deviations; torch's float32 CPU sampler stops at 5.77).
* Laplace: sign = bit 31 of ``h``, magnitude ``-ln(((h mod 2^31) + 1) 2^-31)`` ~ Exp(1) (tail to
  21.5; torch's float32 exponential stops at 16.6).
* Uniform: ``(2 floor(h / 2^8) + 1 - 2^24) 2^-24``, the 2^24 midpoints of a grid on (-1, 1),
  symmetric and exact in float32.

The unit noise is scaled by the family's natural scale ``lambd`` (sigma = per-coordinate RMS, see
:mod:`randsmooth.sampling.base`) and added to ``x`` in pixel space, never clipped:
``x + lambd * z``, the same distribution as the family's :meth:`~randsmooth.sampling.Noise.sample`.

Implementations (same bits everywhere; the float transforms may differ in the last bit between
devices, as torch's own samplers do)
-----------------------------------------------------------------------------------------------
* ``"numpy"`` (CPU): the bits from ``numpy.random.Philox`` (C), the transforms with torch ops on
  chunks of at most 16320 words whose lengths are multiples of 64, so every element goes through the
  same vectorised code path whatever the batch layout (torch's CPU kernels use scalar code for a
  tensor's tail and split large tensors between threads, which may change a transcendental's last
  bit by position).
* ``"torch"`` (any device): Philox with int64 torch ops (unsigned 64-bit arithmetic emulated), one
  fixed sequence of ~500 element-wise ops per batch, no per-sample work; the reference, and the
  CUDA fallback without Triton.
* ``"triton"`` (CUDA): one fused kernel per model batch (Philox, transform, scale, ``+ x``, cast,
  channels-last store); capturable in a CUDA graph.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..seeding import derive_seed
from .base import Noise
from .iid import Gaussian, Laplace, Uniform

__all__ = [
    "SCHEME",
    "KINDS",
    "counter_kind",
    "stream_key",
    "words_per_sample",
    "blocks_per_sample",
    "philox4x64",
    "philox_words",
    "unit_noise",
    "triton_available",
    "Piece",
    "CounterNoise",
]

SCHEME = "philox-v1"
# Families with a counter-based sampler and their transform ids (the Triton kernel's KIND).
KINDS: dict[type[Noise], int] = {Gaussian: 0, Laplace: 1, Uniform: 2}

_M32 = 0xFFFFFFFF
_PHILOX_M = (0xD2E7470EE14C6C93, 0xCA5A826395121157)  # Philox4x64 round multipliers
_PHILOX_W = (0x9E3779B97F4A7C15, 0xBB67AE8584CAA73B)  # Weyl key increments
_ROUNDS = 10
_CPU_CHUNK = 16320  # words per transform call on the CPU: 2 * 16320 < 32768, torch's parallel grain (see above)
_TWO_PI = 2.0 * math.pi


def counter_kind(noise: Noise) -> int | None:
    """Transform id of ``noise``'s family if it has a counter-based sampler (exact class), else None."""
    return KINDS.get(type(noise))


def stream_key(seed: int, idx: int, stream: int) -> int:
    """Philox key word 0 of stream ``stream`` of example ``idx`` under global ``seed`` (63 bits)."""
    return derive_seed(seed, idx, stream)


def words_per_sample(dim: int) -> int:
    """64-bit words one sample of ``dim`` coordinates uses: ceil(dim / 2)."""
    return -(-dim // 2)


def blocks_per_sample(dim: int) -> int:
    """Philox blocks (4 words each) one sample of ``dim`` coordinates uses: Q = ceil(W / 4)."""
    return -(-words_per_sample(dim) // 4)


def _s64(value: int) -> int:
    """An unsigned 64-bit constant as the int64 with the same bits."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _lsr32(x: torch.Tensor) -> torch.Tensor:
    """Logical right shift by 32 of int64 tensors holding unsigned 64-bit patterns."""
    return (x >> 32) & _M32


def _mulhilo(a: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """High and low 64 bits of the 128-bit product ``a * m`` (``a`` int64 bits, ``m`` unsigned constant)."""
    ml, mh = m & _M32, m >> 32
    al, ah = a & _M32, _lsr32(a)
    t0, t1, t2 = al * ml, ah * ml, al * mh  # each product < 2^64: exact as unsigned bit patterns
    mid = _lsr32(t0) + (t1 & _M32) + (t2 & _M32)
    hi = ah * mh + _lsr32(t1) + _lsr32(t2) + _lsr32(mid)
    return hi, a * _s64(m)


def philox4x64(counter: torch.Tensor, key: torch.Tensor | int) -> torch.Tensor:
    """Philox4x64-10 blocks for counters ``(counter, 0, 0, 0)`` under keys ``(key, 0)``.

    ``counter`` and ``key`` are int64 (tensors broadcast together; the bits are read as unsigned);
    returns int64 of shape ``broadcast + (4,)`` holding the four unsigned output words.
    """
    k0 = key if torch.is_tensor(key) else torch.tensor(_s64(int(key)), dtype=torch.int64, device=counter.device)
    c0 = torch.broadcast_tensors(counter, k0)[0].clone()
    c1 = torch.zeros_like(c0)
    c2 = torch.zeros_like(c0)
    c3 = torch.zeros_like(c0)
    k1 = 0
    for r in range(_ROUNDS):
        if r:
            k0 = k0 + _s64(_PHILOX_W[0])
            k1 = _s64((k1 + _PHILOX_W[1]) & ((1 << 64) - 1))
        hi0, lo0 = _mulhilo(c0, _PHILOX_M[0])
        hi1, lo1 = _mulhilo(c2, _PHILOX_M[1])
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return torch.stack([c0, c1, c2, c3], dim=-1)


def philox_words(key: int, first_block: int, num_blocks: int) -> np.ndarray:
    """The ``4 * num_blocks`` words of blocks ``first_block ..`` under key ``(key, 0)``, as int64 (numpy, C speed)."""
    # numpy's Philox increments its counter before producing each block
    bitgen = np.random.Philox(key=np.array([key, 0], dtype=np.uint64), counter=(first_block - 1) % (1 << 256))
    return bitgen.random_raw(4 * num_blocks).view(np.int64)


def _transform(words: torch.Tensor, kind: int) -> torch.Tensor:
    """Unit noise (N, 2) float32 for the coordinates of ``N`` words (int64 1-D)."""
    lo, hi = words & _M32, _lsr32(words)
    if kind == 0:
        r = lo.add_(1).to(torch.float32).mul_(2.0**-32).log_().mul_(-2.0).sqrt_()
        t = hi.to(torch.float32).mul_(_TWO_PI * 2.0**-32)
        out = torch.empty((words.shape[0], 2), dtype=torch.float32, device=words.device)
        torch.mul(r, torch.cos(t), out=out[:, 0])
        torch.mul(r, t.sin_(), out=out[:, 1])
        return out
    halves = torch.stack([lo, hi], dim=1)
    if kind == 1:
        sign = halves >> 31
        mag = (halves & 0x7FFFFFFF).add_(1).to(torch.float32).mul_(2.0**-31).log_()  # -Exp(1)
        return torch.where(sign.bool(), mag, mag.neg())
    if kind == 2:
        return (halves >> 8).mul_(2).add_(1 - (1 << 24)).to(torch.float32).mul_(2.0**-24)
    raise ValueError(f"unknown counter transform kind {kind!r}")


def unit_noise(words: torch.Tensor, kind: int, dim: int) -> torch.Tensor:
    """Unit noise (rows, dim) float32 from the words (rows, >= W) of each row's sample.

    On the CPU the transform runs on fixed chunks of whole vector lengths (see the module
    docstring), so a row's noise does not depend on the other rows.
    """
    rows = words.shape[0]
    w = words_per_sample(dim)
    flat = words[:, :w].reshape(-1)
    if words.device.type != "cpu":
        return _transform(flat, kind).reshape(rows, 2 * w)[:, :dim]
    total = flat.shape[0]
    padded = -(-total // 64) * 64
    if padded != total:
        flat = torch.cat([flat, flat.new_zeros(padded - total)])
    out = torch.empty((padded, 2), dtype=torch.float32)
    for start in range(0, padded, _CPU_CHUNK):
        stop = min(padded, start + _CPU_CHUNK)
        out[start:stop] = _transform(flat[start:stop], kind)
    return out[:total].reshape(rows, 2 * w)[:, :dim]


@functools.lru_cache(maxsize=1)
def triton_available() -> bool:
    """Whether Triton can be imported (the fused CUDA kernel needs it)."""
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return False
    return True


@dataclass(frozen=True)
class Piece:
    """Rows ``row .. row + count`` of a model batch: samples ``j0 .. j0 + count`` of the stream ``key``.

    ``x`` is the example's row in the batch's example buffer (``xbuf[x]``).
    """

    row: int
    count: int
    key: int
    j0: int
    x: int


class CounterNoise:
    """Fills model batches with ``xbuf[x] + lambd * z`` for pieces of counter-based streams.

    ``impl`` is ``"numpy"`` (CPU only), ``"torch"`` or ``"triton"`` (CUDA only); None picks numpy on
    the CPU, Triton on CUDA when it imports, else torch. Implementations marked
    :attr:`uses_desc` read the per-row (key, j, x) from a device tensor ``desc`` (3, rows) int64
    and never look at the pieces, so they can be captured in a CUDA graph.
    """

    IMPLS = ("numpy", "torch", "triton")

    def __init__(self, noise: Noise, device: torch.device | str, impl: str | None = None) -> None:
        kind = counter_kind(noise)
        if kind is None:
            raise ValueError(f"noise family {noise.name!r} has no counter-based sampler")
        self.noise, self.kind, self.lambd, self.dim = noise, kind, float(noise.lambd), noise.dim
        self.device = torch.device(device)
        if impl is None:
            if self.device.type == "cpu":
                impl = "numpy"
            elif self.device.type == "cuda" and triton_available():
                impl = "triton"
            else:
                impl = "torch"
        if impl not in self.IMPLS:
            raise ValueError(f"impl must be one of {self.IMPLS}, got {impl!r}")
        if impl == "numpy" and self.device.type != "cpu":
            raise ValueError(f"impl 'numpy' generates on the CPU, got device {self.device}")
        self.impl = impl
        self.uses_desc = impl != "numpy"
        self.blocks = blocks_per_sample(self.dim)

    def __repr__(self) -> str:
        return f"CounterNoise({self.noise!r}, device={self.device}, impl={self.impl!r})"

    def fill(
        self, out: torch.Tensor, xbuf: torch.Tensor, pieces: Sequence[Piece], desc: torch.Tensor | None = None
    ) -> None:
        """Write ``xbuf[p.x] + lambd * z`` into ``out[p.row : p.row + p.count]`` for every piece.

        ``out`` is (rows, ...) with ``dim`` coordinates per row (any memory format), ``xbuf`` (E, ...)
        contiguous float32. ``desc`` (3, >= rows) int64 on the device is required when
        :attr:`uses_desc`; then all of ``out``'s rows are written from it.
        """
        if self.impl == "numpy":
            for p in pieces:
                words = philox_words(p.key, p.j0 * self.blocks, p.count * self.blocks)
                z = unit_noise(torch.from_numpy(words).view(p.count, 4 * self.blocks), self.kind, self.dim)
                rows = out[p.row : p.row + p.count]
                torch.add(z.mul_(self.lambd).reshape(rows.shape), xbuf[p.x], out=rows)
            return
        if desc is None:
            raise ValueError(f"impl {self.impl!r} needs the per-row desc tensor")
        rows = out.shape[0]
        if self.impl == "triton":
            _launch_triton(out, xbuf, desc, self.kind, self.lambd, self.dim, self.blocks)
            return
        key, j, x = desc[0, :rows], desc[1, :rows], desc[2, :rows]
        counters = j[:, None] * self.blocks + torch.arange(self.blocks, device=out.device)
        words = philox4x64(counters, key[:, None]).reshape(rows, 4 * self.blocks)
        z = unit_noise(words, self.kind, self.dim).mul_(self.lambd)
        out.copy_(z.reshape(out.shape)).add_(xbuf.index_select(0, x))


# ----------------------------------------------------------------------------------- Triton
def _out_strides(out: torch.Tensor, dim: int) -> tuple[int, int, int]:
    """(HW, channel stride, spatial stride) of ``out`` rows: NCHW or channels-last images, else flat."""
    if out.dim() == 4 and out.stride(2) == out.shape[3] * out.stride(3):
        return out.shape[2] * out.shape[3], out.stride(1), out.stride(3)
    if not out[0].is_contiguous():
        raise ValueError("the noise output must be contiguous per row, or a 4-D NCHW / channels-last tensor")
    return dim, 0, 1


def _launch_triton(
    out: torch.Tensor, xbuf: torch.Tensor, desc: torch.Tensor, kind: int, lambd: float, dim: int, blocks: int
) -> None:
    import triton

    from .philox_triton import PRECISE
    from .philox_triton import philox_noise_kernel as kernel

    if not xbuf.is_contiguous() or desc.stride(1) != 1:
        raise ValueError("xbuf must be contiguous and desc row-major")
    hw, c_stride, hw_stride = _out_strides(out, dim)
    block_q = min(128, triton.next_power_of_2(blocks))
    grid = (out.shape[0], triton.cdiv(blocks, block_q))
    kernel[grid](
        out,
        xbuf,
        desc,
        desc.stride(0),
        dim,
        blocks,
        hw,
        out.stride(0),
        c_stride,
        hw_stride,
        dim,
        lambd,
        KIND=kind,
        BLOCK_Q=block_q,
        PRECISE=PRECISE,
    )
