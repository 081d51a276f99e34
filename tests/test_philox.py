"""Counter-based noise (randsmooth.sampling.philox): Philox bits, layout invariance, distributions,
and the fused Triton kernel (in Triton's CPU interpreter here; on the device where CUDA is present)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from devices import needs_cuda
from randsmooth.sampling import get_noise
from randsmooth.sampling.philox import (
    CounterNoise,
    Piece,
    blocks_per_sample,
    counter_kind,
    philox4x64,
    philox_words,
    stream_key,
    triton_available,
    unit_noise,
)

SRC = Path(__file__).resolve().parents[1] / "src"
MASK64 = (1 << 64) - 1


def unsigned(words) -> list[int]:
    return [int(w) & MASK64 for w in np.asarray(words).reshape(-1)]


def test_philox4x64_known_answer_and_numpy_agree():
    # Random123's known-answer vector for Philox4x64-10, counter 0 and key 0
    expected = [0x16554D9ECA36314C, 0xDB20FE9D672D0FDC, 0xD7E772CEE186176B, 0x7E68B68AEC7BA23B]
    assert unsigned(philox4x64(torch.tensor([0]), 0)) == expected
    assert unsigned(philox_words(0, 0, 1)) == expected
    rng = np.random.default_rng(0)
    for key in (1, (1 << 63) - 1, int(rng.integers(1 << 62))):
        first = int(rng.integers(1 << 40))
        ours = philox4x64(torch.arange(first, first + 50), key)
        assert np.array_equal(ours.reshape(-1).numpy(), philox_words(key, first, 50))


def test_counter_kind_covers_exactly_the_three_families():
    assert counter_kind(get_noise("gaussian", 0.5, 4)) == 0
    assert counter_kind(get_noise("laplace", 0.5, 4)) == 1
    assert counter_kind(get_noise("uniform", 0.5, 4)) == 2
    assert counter_kind(get_noise("expinf", 0.5, 4, k=1, j=0)) is None
    with pytest.raises(ValueError, match="no counter-based sampler"):
        CounterNoise(get_noise("pareto", 0.5, 4, a=3.0), "cpu")
    with pytest.raises(ValueError, match="impl"):
        CounterNoise(get_noise("gaussian", 0.5, 4), "cpu", impl="cuda")


def fill(noise: CounterNoise, xbuf: torch.Tensor, pieces: list[Piece], shape: tuple[int, ...]) -> torch.Tensor:
    rows = sum(p.count for p in pieces)
    out = torch.empty((rows, *shape))
    desc = None
    if noise.uses_desc:
        cols = [(p.key, p.j0 + r, p.x) for p in pieces for r in range(p.count)]
        desc = torch.tensor(cols, dtype=torch.int64).T.contiguous()
    noise.fill(out, xbuf, pieces, desc)
    return out


@pytest.mark.parametrize("name", ["gaussian", "laplace", "uniform"])
@pytest.mark.parametrize("shape", [(1, 4, 4), (3, 7, 5), (3, 32, 32)])
def test_a_rows_noise_does_not_depend_on_the_batch_layout(name, shape):
    dim = int(np.prod(shape))
    noise = CounterNoise(get_noise(name, 0.3, dim), "cpu")
    xbuf = torch.rand((2, *shape), generator=torch.Generator().manual_seed(0))
    keys = (stream_key(0, 5, 1), stream_key(0, 9, 0))
    whole = fill(noise, xbuf, [Piece(0, 300, keys[0], 0, 0), Piece(300, 40, keys[1], 7, 1)], shape)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # torch splits large tensors between threads; results must not move
        split = [
            fill(noise, xbuf, [Piece(0, 1, keys[0], 0, 0)], shape),
            fill(noise, xbuf, [Piece(0, 130, keys[0], 1, 0), Piece(130, 3, keys[1], 7, 1)], shape),
            fill(noise, xbuf, [Piece(0, 169, keys[0], 131, 0)], shape),
            fill(noise, xbuf, [Piece(0, 37, keys[1], 10, 1)], shape),
        ]
    finally:
        torch.set_num_threads(threads)
    reordered = torch.cat([split[0], split[1][:130], split[2], split[1][130:], split[3]])
    assert torch.equal(whole, reordered)
    reference = fill(CounterNoise(noise.noise, "cpu", impl="torch"), xbuf, [Piece(0, 300, keys[0], 0, 0)], shape)
    assert torch.equal(whole[:300], reference)  # int64 torch-op Philox: same bits, same transform
    other_key = fill(noise, xbuf, [Piece(0, 300, keys[1], 0, 0)], shape)
    assert not torch.equal(other_key, whole[:300])
    assert not torch.equal(whole[:1], whole[1:2])


def test_channels_last_output_holds_the_same_values():
    noise = CounterNoise(get_noise("gaussian", 0.5, 48), "cpu")
    xbuf = torch.rand(1, 3, 4, 4)
    pieces = [Piece(0, 20, 12345, 3, 0)]
    plain = torch.empty(20, 3, 4, 4)
    last = torch.empty(20, 3, 4, 4).contiguous(memory_format=torch.channels_last)
    noise.fill(plain, xbuf, pieces)
    noise.fill(last, xbuf, pieces)
    assert torch.equal(plain, last)


@pytest.mark.parametrize("name", ["gaussian", "laplace", "uniform"])
def test_fused_sampler_moments_and_marginals(name):
    dim, sigma, rows = 3072, 0.37, 200
    family = get_noise(name, sigma, dim)
    noise = CounterNoise(family, "cpu")
    x = torch.full((1, 3, 32, 32), 0.25)
    delta = (fill(noise, x, [Piece(0, rows, stream_key(3, 11, 1), 1000, 0)], (3, 32, 32)) - x).reshape(rows, dim)
    rms = float(delta.double().pow(2).mean().sqrt())
    assert abs(rms / sigma - 1) < 0.02  # sigma is the per-coordinate RMS
    per_coordinate = delta.double().pow(2).mean(0).sqrt()
    assert abs(float(per_coordinate.mean()) / sigma - 1) < 0.02
    assert abs(float(delta.double().mean())) < 5 * sigma / np.sqrt(rows * dim)
    lambd = family.lambd
    values = delta.reshape(-1)[::7].double().numpy() / lambd  # a thinned sample of the marginal
    cdf = {"gaussian": stats.norm.cdf, "laplace": stats.laplace.cdf, "uniform": stats.uniform(-1, 2).cdf}[name]
    assert stats.kstest(values, cdf).pvalue > 1e-3
    # neighbouring coordinates (the two halves of a word, a Box-Muller pair) and rows are uncorrelated
    flat = delta.double().numpy()
    assert abs(np.corrcoef(flat[:, 0::2].ravel(), flat[:, 1::2].ravel())[0, 1]) < 4 / np.sqrt(flat.size / 2)
    assert abs(np.corrcoef(flat[:-1].ravel(), flat[1:].ravel())[0, 1]) < 4 / np.sqrt(flat.size)
    if name == "uniform":
        assert float(delta.abs().max()) < lambd


def test_the_stream_is_the_documented_function_of_key_and_index():
    dim, key, j = 10, stream_key(0, 2, 1), 17
    noise = get_noise("uniform", 0.5, dim)
    out = fill(CounterNoise(noise, "cpu"), torch.zeros(1, dim), [Piece(0, 1, key, j, 0)], (dim,))
    q = blocks_per_sample(dim)
    words = unsigned(philox_words(key, j * q, q))
    halves = [h for w in words for h in (w & 0xFFFFFFFF, w >> 32)][:dim]
    expected = [((h >> 8) * 2 + 1 - (1 << 24)) / (1 << 24) * noise.lambd for h in halves]
    assert out[0].tolist() == pytest.approx(expected, rel=1e-6)
    signed = words[0] - (1 << 64) if words[0] >= 1 << 63 else words[0]
    gaussian = unit_noise(torch.tensor([[signed]]), 0, 2)[0].tolist()
    lo, hi = words[0] & 0xFFFFFFFF, words[0] >> 32
    r = np.sqrt(-2 * np.log((lo + 1) / 2**32))
    assert gaussian == pytest.approx([r * np.cos(2 * np.pi * hi / 2**32), r * np.sin(2 * np.pi * hi / 2**32)], rel=1e-5)


INTERPRETER_CHECK = textwrap.dedent(
    """
    import json, torch, numpy as np
    from randsmooth.sampling import get_noise
    from randsmooth.sampling.philox import CounterNoise, Piece
    out = {}
    for name in ("uniform", "gaussian", "laplace"):
        for shape in ((1, 4, 4), (3, 5, 7), (17,)):
            dim = int(np.prod(shape))
            family = get_noise(name, 0.5, dim)
            cpu = CounterNoise(family, "cpu")
            tri = CounterNoise(family, "cpu", impl="torch")
            tri.impl = "triton"  # the kernel, run by Triton's interpreter on CPU tensors
            xbuf = torch.rand((2, *shape), generator=torch.Generator().manual_seed(1))
            keys = [(1 << 63) - 5, 12345]
            pieces = [Piece(0, 6, keys[0], 3, 0), Piece(6, 4, keys[1], 2**33, 1)]
            desc = torch.tensor([[keys[0]] * 6 + [keys[1]] * 4,
                                 list(range(3, 9)) + list(range(2**33, 2**33 + 4)), [0] * 6 + [1] * 4])
            for layout in ("plain", "channels_last"):
                a = torch.empty((10, *shape))
                b = torch.empty((10, *shape))
                if layout == "channels_last" and len(shape) == 3:
                    b = b.contiguous(memory_format=torch.channels_last)
                cpu.fill(a, xbuf, pieces)
                tri.fill(b, xbuf, pieces, desc)
                out[f"{name} {shape} {layout}"] = [bool(torch.equal(a, b)), float((a - b).abs().max())]
    print(json.dumps(out))
    """
)


@pytest.mark.skipif(not triton_available(), reason="needs Triton")
def test_triton_kernel_matches_the_cpu_sampler_in_the_interpreter():
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(SRC)}
    result = subprocess.run(
        [sys.executable, "-c", INTERPRETER_CHECK], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    checks = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(checks) == 18
    for case, (equal, diff) in checks.items():
        if case.startswith("uniform"):
            assert equal, case  # no transcendental functions: bit-identical
        else:
            assert diff < 1e-5, case  # numpy's log/cos/sin vs torch's: last-bit differences


@needs_cuda
@pytest.mark.parametrize("name", ["gaussian", "laplace", "uniform"])
def test_cuda_kernels_match_the_cpu_sampler(name):
    shape = (3, 32, 32)
    dim = int(np.prod(shape))
    family = get_noise(name, 0.5, dim)
    xbuf = torch.rand((2, *shape), generator=torch.Generator().manual_seed(2))
    pieces = [Piece(0, 300, stream_key(0, 1, 1), 5, 0), Piece(300, 100, stream_key(0, 2, 0), 0, 1)]
    desc = torch.tensor([[p.key, p.j0 + r, p.x] for p in pieces for r in range(p.count)]).T.contiguous().cuda()
    reference = torch.empty((400, *shape))
    CounterNoise(family, "cpu").fill(reference, xbuf, pieces)
    impls = ["torch"] + (["triton"] if triton_available() else [])
    for impl in impls:
        for fmt in (torch.contiguous_format, torch.channels_last):
            out = torch.empty((400, *shape), device="cuda").contiguous(memory_format=fmt)
            CounterNoise(family, "cuda", impl=impl).fill(out, xbuf.cuda(), pieces, desc)
            diff = (out.cpu() - reference).abs().max().item()
            assert diff == 0 if name == "uniform" else diff < 1e-5, (impl, fmt, diff)
