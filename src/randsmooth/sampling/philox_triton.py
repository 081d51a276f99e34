"""The fused CUDA kernel of the counter-based noise (see :mod:`randsmooth.sampling.philox` for the scheme).

One program per (batch row, tile of Philox blocks): Philox4x64-10 of the counters
``j * Q + q`` under key ``(key, 0)`` read from the per-row ``desc`` (key, j, example row), the
family transform, ``x + lambd * z``, the cast to the output dtype and the store in the output's
memory format (NCHW or channels-last). Imported only when used, so that CPU-only installs never
import Triton. Tested on the CPU in Triton's interpreter (``TRITON_INTERPRET=1``) against the
numpy implementation, and on CUDA where a GPU is present.
"""

from __future__ import annotations

import os

import triton
import triton.language as tl
from triton.language.extra import libdevice

__all__ = ["philox_noise_kernel"]
# CUDA: libdevice's accurate functions (tl.cos / tl.sin may lower to approximations); Triton's
# interpreter has no libdevice and runs tl.* with numpy.
PRECISE = os.environ.get("TRITON_INTERPRET") != "1"


@triton.jit
def _log(x, PRECISE: tl.constexpr):
    if PRECISE:
        y = libdevice.log(x)
    else:
        y = tl.log(x)
    return y


@triton.jit
def _cos(x, PRECISE: tl.constexpr):
    if PRECISE:
        y = libdevice.cos(x)
    else:
        y = tl.cos(x)
    return y


@triton.jit
def _sin(x, PRECISE: tl.constexpr):
    if PRECISE:
        y = libdevice.sin(x)
    else:
        y = tl.sin(x)
    return y


@triton.jit
def _gaussian(lo, hi, SECOND: tl.constexpr, PRECISE: tl.constexpr):
    r = tl.sqrt_rn(_log((lo + 1).to(tl.float32) * 2.3283064365386963e-10, PRECISE) * -2.0)
    t = hi.to(tl.float32) * (6.283185307179586 * 2.3283064365386963e-10)
    if SECOND:
        v = r * _sin(t, PRECISE)
    else:
        v = r * _cos(t, PRECISE)
    return v


@triton.jit
def _laplace(h, PRECISE: tl.constexpr):
    e = _log(((h & 0x7FFFFFFF) + 1).to(tl.float32) * 4.656612873077393e-10, PRECISE)  # -Exp(1)
    return tl.where((h >> 31) != 0, e, -e)


@triton.jit
def _uniform(h):
    return ((h >> 8).to(tl.int64) * 2 + (1 - 16777216)).to(tl.float32) * 5.960464477539063e-08


@triton.jit
def _store_half(v, i, row, xrow, out_ptr, x_ptr, d, HW, out_row_stride, out_c_stride, out_hw_stride, lambd):
    mask = i < d
    c = i // HW
    off = row * out_row_stride + c * out_c_stride + (i - c * HW) * out_hw_stride
    xv = tl.load(x_ptr + xrow + i, mask=mask, other=0.0)
    y = xv + v * lambd
    tl.store(out_ptr + off, y.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _store_word(
    word,
    m,
    row,
    xrow,
    out_ptr,
    x_ptr,
    d,
    HW,
    out_row_stride,
    out_c_stride,
    out_hw_stride,
    lambd,
    KIND: tl.constexpr,
    PRECISE: tl.constexpr,
):
    lo = word & 0xFFFFFFFF
    hi = word >> 32
    if KIND == 0:
        v0 = _gaussian(lo, hi, False, PRECISE)
        v1 = _gaussian(lo, hi, True, PRECISE)
    elif KIND == 1:
        v0 = _laplace(lo, PRECISE)
        v1 = _laplace(hi, PRECISE)
    else:
        v0 = _uniform(lo)
        v1 = _uniform(hi)
    _store_half(v0, 2 * m, row, xrow, out_ptr, x_ptr, d, HW, out_row_stride, out_c_stride, out_hw_stride, lambd)
    _store_half(v1, 2 * m + 1, row, xrow, out_ptr, x_ptr, d, HW, out_row_stride, out_c_stride, out_hw_stride, lambd)


@triton.jit
def philox_noise_kernel(
    out_ptr,
    x_ptr,
    desc_ptr,
    desc_stride,
    d,
    Q,
    HW,
    out_row_stride,
    out_c_stride,
    out_hw_stride,
    x_row_stride,
    lambd,
    KIND: tl.constexpr,
    BLOCK_Q: tl.constexpr,
    PRECISE: tl.constexpr,
):
    """out[row] = x[desc[2, row]] + lambd * z(desc[0, row], desc[1, row]) for one tile of Philox blocks."""
    row = tl.program_id(0).to(tl.int64)
    q = tl.program_id(1).to(tl.int64) * BLOCK_Q + tl.arange(0, BLOCK_Q).to(tl.int64)
    key = tl.load(desc_ptr + row)
    j = tl.load(desc_ptr + desc_stride + row)
    xrow = tl.load(desc_ptr + 2 * desc_stride + row) * x_row_stride
    c0 = (j * Q + q).to(tl.uint64, bitcast=True)
    c1 = tl.zeros_like(c0)
    c2 = tl.zeros_like(c0)
    c3 = tl.zeros_like(c0)
    k0 = tl.zeros_like(c0) + key.to(tl.uint64, bitcast=True)
    k1 = tl.zeros_like(c0)
    for r in tl.static_range(10):
        if r > 0:
            k0 = k0 + 0x9E3779B97F4A7C15
            k1 = k1 + 0xBB67AE8584CAA73B
        _c0 = c0
        _c2 = c2
        c0 = tl.umulhi(_c2, 0xCA5A826395121157) ^ c1 ^ k0
        c2 = tl.umulhi(_c0, 0xD2E7470EE14C6C93) ^ c3 ^ k1
        c1 = _c2 * 0xCA5A826395121157
        c3 = _c0 * 0xD2E7470EE14C6C93
    m = 4 * q
    _store_word(
        c0, m, row, xrow, out_ptr, x_ptr, d, HW, out_row_stride, out_c_stride, out_hw_stride, lambd, KIND, PRECISE
    )
    _store_word(
        c1, m + 1, row, xrow, out_ptr, x_ptr, d, HW, out_row_stride, out_c_stride, out_hw_stride, lambd, KIND, PRECISE
    )
    _store_word(
        c2, m + 2, row, xrow, out_ptr, x_ptr, d, HW, out_row_stride, out_c_stride, out_hw_stride, lambd, KIND, PRECISE
    )
    _store_word(
        c3, m + 3, row, xrow, out_ptr, x_ptr, d, HW, out_row_stride, out_c_stride, out_hw_stride, lambd, KIND, PRECISE
    )
