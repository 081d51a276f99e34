"""Tests of the count-sampling engine: statistics on a linear model with a known smoothed
probability, soundness of CERTIFY-style radii from the counts, determinism and batch invariance."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from scipy import stats

from devices import DEVICES, needs_cuda
from randsmooth.bounds import cp_lower, predict_abstains
from randsmooth.counts import RunSettings, default_prefix_budgets
from randsmooth.engine import CountSampler, SamplerConfig, block_seed, check_settings
from randsmooth.sampling import get_noise

SHAPE = (1, 4, 4)
DIM = 16


class LinearTwoClass(torch.nn.Module):
    """f(x) = argmax(w.x + b, 0): class 0 iff w.x + b > 0."""

    def __init__(self, w: torch.Tensor, b: float) -> None:
        super().__init__()
        self.register_buffer("w", w.double())
        self.b = b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x.flatten(1).double() @ self.w + self.b
        return torch.stack([z, torch.zeros_like(z)], dim=1)


def linear_setup(z_values: np.ndarray, sigma: float, seed: int = 0):
    """Model and examples whose margin is exactly z * sigma * ||w|| (true p_0 = Phi(z))."""
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(DIM, generator=gen, dtype=torch.float64)
    b = 0.3
    model = LinearTwoClass(w, b)
    norm = float(w.norm())
    xs = []
    for z in z_values:
        r = torch.rand(DIM, generator=gen, dtype=torch.float64)
        shift = (z * sigma * norm - (float(r @ w) + b)) / norm**2
        xs.append((r + shift * w).float().reshape(SHAPE))
    margins = np.array([float(x.double().flatten() @ w) + b for x in xs])
    return model, xs, margins, norm


def sample_all(model, xs, sigma, config, noise_name="gaussian", **params):
    noise = get_noise(noise_name, sigma, DIM, **params)
    sampler = CountSampler(model, noise, 2, "cpu", config)
    return [sampler.sample_example(x, 0, i) for i, x in enumerate(xs)]


def test_counts_are_binomial_with_the_true_probability():
    sigma, n0, n = 0.5, 60, 400
    z = np.linspace(-2.0, 2.0, 150)
    model, xs, margins, norm = linear_setup(z, sigma)
    p = stats.norm.cdf(margins / (sigma * norm))
    recs = sample_all(model, xs, sigma, SamplerConfig(n0=n0, n=n, batch=97, seed=3))
    for column, size in (("counts_selection", n0), ("counts_estimation", n)):
        k = np.array([getattr(r, column)[0] for r in recs])
        assert all(getattr(r, column).sum() == size for r in recs)
        var = size * p * (1 - p)
        z_total = (k - size * p).sum() / np.sqrt(var.sum())
        assert abs(z_total) < 4.0, column
        chi2 = ((k - size * p) ** 2 / var).sum()  # ~ chi2 with len(z) dof
        assert stats.chi2.sf(chi2, len(z)) > 1e-4 and stats.chi2.cdf(chi2, len(z)) > 1e-4, column
    # selection and estimation samples are independent draws
    res_sel = np.array([r.counts_selection[0] for r in recs]) - n0 * p
    res_est = np.array([r.counts_estimation[0] for r in recs]) - n * p
    assert abs(np.corrcoef(res_sel, res_est)[0, 1]) < 4 / np.sqrt(len(z))


def test_certify_radius_from_counts_is_sound_and_not_vacuous():
    sigma, alpha, n0, n = 0.25, 0.1, 50, 1000
    z = np.random.default_rng(1).uniform(0.0, 2.5, 300) * np.random.default_rng(2).choice([-1, 1], 300)
    model, xs, margins, norm = linear_setup(z, sigma, seed=1)
    recs = sample_all(model, xs, sigma, SamplerConfig(n0=n0, n=n, batch=256, seed=11))
    true_class = np.where(margins > 0, 0, 1)
    true_radius = np.abs(margins) / norm
    failures, certified_strong, strong = 0, 0, 0
    for rec, c_true, r_true, zz in zip(recs, true_class, true_radius, z, strict=True):
        top = int(np.argmax(rec.counts_selection))
        p_low = cp_lower(int(rec.counts_estimation[top]), n, alpha)
        if p_low >= 0.5:
            radius = sigma * stats.norm.ppf(p_low)
            failures += int(top != c_true or radius > r_true + 1e-12)
            certified_strong += int(abs(zz) > 1.0 and top == c_true)
        strong += int(abs(zz) > 1.0)
    # each example fails with probability <= alpha
    assert failures <= stats.binom.ppf(1 - 1e-6, len(z), alpha)
    assert failures >= 1  # CP coverage is close to 1 - alpha here; zero failures would mean a biased engine
    assert certified_strong >= 0.95 * strong


def test_abstention_level_at_p_one_half():
    sigma, alpha, n0, n = 0.5, 0.05, 40, 400
    model, xs, margins, norm = linear_setup(np.zeros(200), sigma, seed=5)
    assert np.abs(margins).max() < 1e-6
    recs = sample_all(model, xs, sigma, SamplerConfig(n0=n0, n=n, batch=128, seed=2))
    answered_certify = answered_predict = 0
    for rec in recs:
        top = int(np.argmax(rec.counts_selection))
        answered_certify += int(cp_lower(int(rec.counts_estimation[top]), n, alpha) >= 0.5)
        n1, n2 = sorted(rec.counts_estimation.tolist(), reverse=True)
        answered_predict += int(not predict_abstains(n1, n2, alpha))
    limit = stats.binom.ppf(1 - 1e-6, len(recs), alpha)
    assert answered_certify <= limit
    assert answered_predict <= limit


def _noise_stream(sampler: CountSampler, x: torch.Tensor, idx: int, stream: str, num: int) -> torch.Tensor:
    return torch.cat([b.clone() for b in sampler.noisy_batches(x, idx, stream, num)])


@pytest.mark.parametrize(
    "noise_name, params", [("gaussian", {}), ("expinf", {"k": 1, "j": 0}), ("exp2", {"k": 1, "j": 0})]
)
def test_noise_stream_does_not_depend_on_batch_size(noise_name, params):
    noise = get_noise(noise_name, 0.4, DIM, **params)
    model = LinearTwoClass(torch.ones(DIM), 0.0)
    x = torch.rand(SHAPE, generator=torch.Generator().manual_seed(0))
    streams = []
    for batch in (7, 50, 128, 1000):
        sampler = CountSampler(model, noise, 2, "cpu", SamplerConfig(n0=10, n=333, batch=batch, noise_block=32))
        batches = list(sampler.noisy_batches(x.clone(), 4, "estimation", 333))
        assert all(len(b) <= batch for b in batches)
        streams.append(_noise_stream(sampler, x, 4, "estimation", 333))
    for s in streams[1:]:
        assert torch.equal(s, streams[0])
    assert streams[0].shape == (333, *SHAPE)
    # blocks, streams and examples get different noise
    other_idx = _noise_stream(sampler, x, 5, "estimation", 333)
    other_stream = _noise_stream(sampler, x, 4, "selection", 333)
    assert not torch.equal(other_idx, streams[0]) and not torch.equal(other_stream, streams[0])
    assert not torch.equal(streams[0][:32], streams[0][32:64])


@pytest.mark.parametrize("noise_name, params", [("gaussian", {}), ("expinf", {"k": 1, "j": 0})])
def test_counts_identical_for_all_batch_sizes(noise_name, params):
    model, xs, _, _ = linear_setup(np.linspace(-1, 1, 4), 0.5, seed=7)
    ref = None
    for batch in (7, 50, 1000):
        recs = sample_all(model, xs, 0.5, SamplerConfig(n0=30, n=1100, batch=batch, seed=9), noise_name, **params)
        got = [(r.counts_selection.tolist(), r.counts_estimation.tolist(), r.counts_prefix.tolist()) for r in recs]
        assert ref is None or got == ref
        ref = got


def test_prefix_counts_match_cumulative_predictions():
    model, xs, _, _ = linear_setup(np.array([0.3]), 0.5, seed=3)
    noise = get_noise("gaussian", 0.5, DIM)
    sampler = CountSampler(
        model, noise, 2, "cpu", SamplerConfig(n0=10, n=1500, batch=64, seed=1, prefix_budgets=(1, 100, 129, 1000, 1500))
    )
    rec = sampler.sample_example(xs[0], 1, 0)
    preds = model(_noise_stream(sampler, xs[0], 0, "estimation", 1500)).argmax(1).numpy()
    for row, budget in zip(rec.counts_prefix, rec.prefix_budgets, strict=True):
        assert row.tolist() == np.bincount(preds[:budget], minlength=2).tolist()
    assert rec.counts_prefix[-1].tolist() == rec.counts_estimation.tolist()
    assert rec.prefix_budgets.tolist() == [1, 100, 129, 1000, 1500]


def test_default_prefix_budgets():
    assert default_prefix_budgets(100000) == (100, 1000, 10000, 100000)
    assert default_prefix_budgets(1500) == (100, 1000, 1500)
    assert default_prefix_budgets(100) == (100,)
    assert default_prefix_budgets(7) == (7,)
    assert SamplerConfig(n0=1, n=250).budgets() == (100, 250)


def test_global_rng_untouched_and_irrelevant():
    model, xs, _, _ = linear_setup(np.array([0.2, -0.4]), 0.5, seed=4)
    config = SamplerConfig(n0=20, n=300, batch=64, seed=5)
    torch.manual_seed(0)
    first = sample_all(model, xs, 0.5, config)
    state = torch.get_rng_state()
    torch.manual_seed(12345)
    state2 = torch.get_rng_state()
    second = sample_all(model, xs, 0.5, config)
    assert torch.equal(torch.get_rng_state(), state2)
    assert not torch.equal(state, state2)
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a.counts_estimation, b.counts_estimation)
    other_seed = sample_all(model, xs, 0.5, SamplerConfig(n0=20, n=300, batch=64, seed=6))
    assert any(
        not np.array_equal(a.counts_estimation, b.counts_estimation) for a, b in zip(first, other_seed, strict=True)
    )


def test_block_seed_is_distinct_and_stable():
    seeds = {block_seed(0, i, s, b) for i in range(5) for s in ("selection", "estimation") for b in range(5)}
    assert len(seeds) == 50
    assert block_seed(1, 2, "estimation", 3) == block_seed(1, 2, "estimation", 3)
    with pytest.raises(KeyError):
        block_seed(0, 0, "other", 0)


def test_invalid_inputs_raise_clear_errors():
    noise = get_noise("gaussian", 0.5, DIM)
    model = LinearTwoClass(torch.ones(DIM), 0.0)
    with pytest.raises(ValueError, match="n0"):
        SamplerConfig(n0=0, n=10)
    with pytest.raises(ValueError, match="batch"):
        SamplerConfig(n0=1, n=10, batch=0)
    with pytest.raises(ValueError, match="prefix_budgets"):
        SamplerConfig(n0=1, n=10, prefix_budgets=(5, 3, 10))
    with pytest.raises(ValueError, match="prefix_budgets"):
        SamplerConfig(n0=1, n=10, prefix_budgets=(5,))
    with pytest.raises(ValueError, match="autocast"):
        CountSampler(model, noise, 2, "cpu", SamplerConfig(n0=1, n=10, autocast=True))
    sampler = CountSampler(model, noise, 3, "cpu", SamplerConfig(n0=1, n=10))
    with pytest.raises(ValueError, match="num_classes=3"):
        sampler.sample_example(torch.zeros(SHAPE), 0, 0)
    sampler = CountSampler(model, noise, 2, "cpu", SamplerConfig(n0=1, n=10))
    with pytest.raises(ValueError, match="16 coordinates"):
        sampler.sample_example(torch.zeros(1, 5, 5), 0, 0)
    with pytest.raises(ValueError, match="label 2"):
        list(sampler.run([(torch.zeros(SHAPE), 2)], [0]))


def toy_settings(**overrides) -> RunSettings:
    """Run settings matching a sampler of the two-class toy model with n0 = 5, n = 50, Gaussian sigma 0.5."""
    return RunSettings(
        checkpoint="m.pt",
        model_id="m.pt:0",
        dataset="toy",
        split="test",
        noise="gaussian",
        sigma=0.5,
        dim=DIM,
        num_classes=2,
        n0=5,
        n=50,
        start=0,
        stop=4,
        **overrides,
    )


def test_check_settings_detects_mismatch():
    noise = get_noise("gaussian", 0.5, DIM)
    sampler = CountSampler(LinearTwoClass(torch.ones(DIM), 0.0), noise, 2, "cpu", SamplerConfig(n0=5, n=50, seed=1))
    settings = toy_settings(seed=1)
    check_settings(sampler, settings)
    with pytest.raises(ValueError, match="sigma 0.5 != 0.25"):
        check_settings(sampler, dataclasses.replace(settings, sigma=0.25))
    with pytest.raises(ValueError, match="seed"):
        check_settings(sampler, dataclasses.replace(settings, seed=2))


def test_channels_last_gives_same_counts():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(64, 3)
    )
    noise = get_noise("gaussian", 0.3, DIM)
    x = torch.rand(SHAPE, generator=torch.Generator().manual_seed(1))
    a = CountSampler(net, noise, 3, "cpu", SamplerConfig(n0=20, n=500, batch=64)).sample_example(x, 0, 3)
    b = CountSampler(net, noise, 3, "cpu", SamplerConfig(n0=20, n=500, batch=64, channels_last=True)).sample_example(
        x, 0, 3
    )
    assert a.counts_estimation.tolist() == b.counts_estimation.tolist()
    assert a.counts_estimation.sum() == 500 and (a.counts_estimation > 0).sum() >= 2


@needs_cuda
def test_cuda_counts_are_batch_invariant():
    model, xs, _, _ = linear_setup(np.array([0.5]), 0.5, seed=2)
    model = model.cuda()
    outs = []
    for batch in (7, 1000):
        noise = get_noise("gaussian", 0.5, DIM)
        sampler = CountSampler(model, noise, 2, "cuda", SamplerConfig(n0=10, n=2000, batch=batch))
        outs.append(sampler.sample_example(xs[0], 0, 0).counts_estimation.tolist())
    assert outs[0] == outs[1]


# ------------------------------------------------------------------- counter-based noise ("philox-v1")
def toy_dataset(num: int, seed: int = 0):
    model, xs, _, _ = linear_setup(np.linspace(-0.8, 0.8, num), 0.5, seed=seed)
    return model, [(x, i % 2) for i, x in enumerate(xs)]


def run_counts(model, data, indices, config, noise_name="gaussian", **params):
    noise = get_noise(noise_name, 0.5, DIM, **params)
    sampler = CountSampler(model, noise, 2, "cpu", config)
    return {
        r.idx: (r.counts_selection.tolist(), r.counts_estimation.tolist(), r.counts_prefix.tolist())
        for r in sampler.run(data, indices)
    }


@pytest.mark.parametrize("noise_name", ["gaussian", "laplace", "uniform"])
def test_fused_counts_invariant_to_batch_shards_and_order(noise_name):
    model, data = toy_dataset(7)
    base = dict(n0=13, n=170, seed=4, prefix_budgets=(100, 170))
    reference = run_counts(model, data, range(7), SamplerConfig(batch=64, **base), noise_name)
    for batch in (1, 7, 61, 183, 1000):  # examples share batches when n0 + n is not a multiple
        assert run_counts(model, data, range(7), SamplerConfig(batch=batch, **base), noise_name) == reference
    shards = {}
    for k in range(3):
        shards.update(run_counts(model, data, range(7)[k::3], SamplerConfig(batch=50, **base), noise_name))
    assert shards == reference
    assert run_counts(model, data, [6, 2, 0, 5, 1, 4, 3], SamplerConfig(batch=50, **base), noise_name) == reference
    single = CountSampler(model, get_noise(noise_name, 0.5, DIM), 2, "cpu", SamplerConfig(batch=50, **base))
    for i in (0, 3, 6):
        rec = single.sample_example(*data[i], i)
        assert (rec.counts_selection.tolist(), rec.counts_estimation.tolist(), rec.counts_prefix.tolist()) == (
            reference[i]
        )


def test_fused_noise_is_the_counter_stream_and_rng_schemes_differ():
    from randsmooth.sampling.philox import CounterNoise, Piece, stream_key

    noise = get_noise("gaussian", 0.4, DIM)
    model = LinearTwoClass(torch.ones(DIM), 0.0)
    x = torch.rand(SHAPE, generator=torch.Generator().manual_seed(0))
    sampler = CountSampler(model, noise, 2, "cpu", SamplerConfig(n0=10, n=300, batch=64, seed=3))
    assert sampler.rng == "philox-v1" and sampler.counter is not None
    stream = _noise_stream(sampler, x, 4, "estimation", 300)
    direct = torch.empty(300, *SHAPE)
    CounterNoise(noise, "cpu").fill(direct, x[None], [Piece(0, 300, stream_key(3, 4, 1), 0, 0)])
    assert torch.equal(stream, direct)
    legacy = CountSampler(model, noise, 2, "cpu", SamplerConfig(n0=10, n=300, batch=64, seed=3, rng="block-v1"))
    assert legacy.counter is None
    old = _noise_stream(legacy, x, 4, "estimation", 300)
    gen = torch.Generator()
    blocks = []
    for b in range(3):  # block-v1: one seeded generator per noise block of 128, as before the scheme was recorded
        gen.manual_seed(block_seed(0 + 3, 4, "estimation", b))
        blocks.append(noise.sample(x[None].expand(min(128, 300 - 128 * b), *SHAPE), gen))
    assert torch.equal(old, torch.cat(blocks))
    assert not torch.equal(old, stream)
    with pytest.raises(ValueError, match="rng"):
        SamplerConfig(n0=1, n=10, rng="philox-v2")


def test_counts_never_use_bincount(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("torch.bincount synchronises the host on CUDA")

    monkeypatch.setattr(torch, "bincount", refuse)
    model, data = toy_dataset(3)
    counts = run_counts(model, data, range(3), SamplerConfig(n0=10, n=250, batch=64))
    assert all(sum(est) == 250 and sum(sel) == 10 for sel, est, _ in counts.values())


def test_check_settings_detects_rng_and_mode_mismatch():
    noise = get_noise("gaussian", 0.5, DIM)
    sampler = CountSampler(LinearTwoClass(torch.ones(DIM), 0.0), noise, 2, "cpu", SamplerConfig(n0=5, n=50, fast=True))
    settings = toy_settings(fast=True)
    check_settings(sampler, settings)
    with pytest.raises(ValueError, match="rng 'philox-v1' != 'block-v1'"):
        check_settings(sampler, dataclasses.replace(settings, rng="block-v1"))
    with pytest.raises(ValueError, match="fast True != False"):
        check_settings(sampler, dataclasses.replace(settings, fast=False))


def test_fast_mode_is_a_no_op_on_the_cpu():
    model, data = toy_dataset(4)
    base = dict(n0=10, n=200, batch=64, seed=2)
    assert run_counts(model, data, range(4), SamplerConfig(fast=True, **base)) == run_counts(
        model, data, range(4), SamplerConfig(**base)
    )


def test_a_failing_example_does_not_lose_the_ones_before():
    model, data = toy_dataset(3)

    class Failing:
        def __getitem__(self, i):
            if i == 2:
                raise RuntimeError("disk gone")
            return data[i]

    sampler = CountSampler(model, get_noise("gaussian", 0.5, DIM), 2, "cpu", SamplerConfig(n0=10, n=100, batch=64))
    got = []
    with pytest.raises(RuntimeError, match="disk gone"):
        for record in sampler.run(Failing(), range(3)):
            got.append(record.idx)
    assert got == [0, 1]


def digits_setup(device):
    from randsmooth.models import create_model

    torch.manual_seed(0)
    model = create_model("digits_cnn", "digits").to(device).eval()
    xs = torch.rand((6, 1, 8, 8), generator=torch.Generator().manual_seed(5))
    return model, [(xs[i], i % 10) for i in range(6)]


def sync_free_run(sampler: CountSampler, data, indices) -> list:
    """The records of ``indices``, sampled with host syncs refused (after one warm-up example)."""
    list(sampler.run(data, range(1)))  # warm-up: Triton compilation, cuDNN handles, graph capture
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        return list(sampler.run(data, indices))
    finally:
        torch.cuda.set_sync_debug_mode(0)


def sampled_counts(records) -> dict[int, list[int]]:
    """Estimation + selection counts per example index."""
    return {r.idx: r.counts_estimation.tolist() + r.counts_selection.tolist() for r in records}


@needs_cuda
@pytest.mark.parametrize("noise_name", ["gaussian", "laplace", "uniform"])
def test_cuda_fused_counts_invariant_and_sync_free(noise_name):
    model, data = digits_setup("cuda")
    noise = get_noise(noise_name, 0.25, 64)
    outs = []
    for batch in (64, 400, 1000):
        sampler = CountSampler(model, noise, 10, "cuda", SamplerConfig(n0=30, n=1500, batch=batch, seed=1))
        outs.append(sampled_counts(sync_free_run(sampler, data, [5, 0, 3, 1, 2, 4])))
    # digits_cnn's kernels may change a logit's last bit with the batch size: allow rare near-tie flips
    for other in outs[1:]:
        for idx, counts in other.items():
            assert sum(abs(a - b) for a, b in zip(counts, outs[0][idx], strict=True)) <= 4, idx


@needs_cuda
def test_cuda_fast_mode_counts_equal_default_mode():
    model, data = digits_setup("cuda")
    noise = get_noise("gaussian", 0.25, 64)
    results = []
    for fast in (False, True):
        sampler = CountSampler(model, noise, 10, "cuda", SamplerConfig(n0=64, n=2100, batch=400, fast=fast))
        records = sync_free_run(sampler, data, range(6))
        results.append([(r.counts_selection.tolist(), r.counts_prefix.tolist()) for r in records])
    # same noise kernel, and graph replay runs the eager kernels of the same batch size: identical counts
    assert results[0] == results[1]


@needs_cuda
def test_cuda_autocast_and_channels_last_without_syncs_close_to_fp32():
    """float16 autocast certifies a slightly different network: counts stay within 1 % of fp32's (an
    untrained digits_cnn, whose logits are close, flips about 1 in 2,000 samples in float16)."""
    model, data = digits_setup("cuda")
    noise = get_noise("gaussian", 0.25, 64)
    runs = {}
    for name, options in {
        "fp32": {},
        "autocast": {"autocast": True},
        "autocast fast channels-last": {"autocast": True, "fast": True, "channels_last": True},
    }.items():
        sampler = CountSampler(model, noise, 10, "cuda", SamplerConfig(n0=64, n=2100, batch=400, **options))
        runs[name] = sampled_counts(sync_free_run(sampler, data, range(6)))
    for name in ("autocast", "autocast fast channels-last"):
        for idx, counts in runs[name].items():
            assert sum(counts) == 2100 + 64
            assert sum(abs(a - b) for a, b in zip(counts, runs["fp32"][idx], strict=True)) <= 21, (name, idx)


@needs_cuda
@pytest.mark.parametrize("noise_name, params", [("expinf", {"k": 1, "j": 0}), ("exp2", {"k": 1, "j": 0})])
def test_cuda_block_path_families_are_batch_invariant(noise_name, params):
    """Families without a counter-based sampler keep the seeded-block path on CUDA too."""
    model, data = digits_setup("cuda")
    noise = get_noise(noise_name, 0.25, 64, **params)
    outs = []
    for batch in (100, 1000):
        sampler = CountSampler(model, noise, 10, "cuda", SamplerConfig(n0=30, n=600, batch=batch, seed=1))
        assert sampler.counter is None
        outs.append({r.idx: r.counts_estimation.tolist() for r in sampler.run(data, [2, 0, 1])})
    for idx, counts in outs[1].items():
        assert sum(counts) == 600
        assert sum(abs(a - b) for a, b in zip(counts, outs[0][idx], strict=True)) <= 4, idx


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_compiled_model_gives_the_same_counts(device):
    """torch.compile (needs a C++ compiler; ~20 s); on CUDA together with graph capture (fast mode),
    where generated kernels may change a logit's last bit: rare near-tie flips are allowed there."""
    model, data = digits_setup(device)
    noise = get_noise("gaussian", 0.25, 64)
    counts = []
    for compile_model in (False, True):
        config = SamplerConfig(n0=50, n=900, batch=400, compile=compile_model, fast=compile_model)
        sampler = CountSampler(model, noise, 10, device, config)
        counts.append(np.array([r.counts_estimation.tolist() for r in sampler.run(data, range(3))]))
    assert np.abs(counts[0] - counts[1]).sum() <= (0 if device == "cpu" else 4)


# ------------------------------------------------------------- sequential certification in rounds
def rounds_setup(noise_name: str, batch: int, **params):
    """Six linear-model examples (p_A from ~0.07 to ~0.99), a grid rule with checkpoints up to 600
    and the sampler whose prefix budgets are the rule's checkpoints."""
    from randsmooth.sequential import make_rule

    model, xs, _, _ = linear_setup(np.linspace(-1.5, 2.5, 6), 0.5, seed=2)
    data = [(x, 0) for x in xs]
    rule = make_rule("grid", [np.nextafter(0.5, 1.0), 0.7, 0.9], 600, 0.01, first=20, ratio=1.5)
    config = SamplerConfig(n0=10, n=600, batch=batch, seed=3, prefix_budgets=tuple(rule.checkpoints.tolist()))
    sampler = CountSampler(model, get_noise(noise_name, 0.5, DIM, **params), 2, "cpu", config)
    return sampler, data, rule


def as_tuple(rec) -> tuple:
    return (rec.counts_selection.tolist(), rec.prefix_budgets.tolist(), rec.counts_prefix.tolist())


@pytest.mark.parametrize(("noise_name", "params"), [("gaussian", {}), ("uniform", {}), ("pareto", {"a": 3.0})])
def test_rounds_give_the_fixed_n_prefix_counts_for_every_batch_size(noise_name, params):
    from randsmooth.rounds import run_rounds
    from randsmooth.sequential import decide_stream
    from randsmooth.sequential import run_rounds as drive_one

    sampler, data, rule = rounds_setup(noise_name, 64, **params)
    fixed = {r.idx: r for r in sampler.run(data, range(6))}
    reference = {r.idx: as_tuple(r) for r in run_rounds(sampler, data, [3, 0, 5, 1, 4, 2], rule)}
    assert sorted(reference) == list(range(6))
    samples = []
    for i, (sel, budgets, prefix) in reference.items():
        full = fixed[i]
        t = len(budgets)
        assert sel == full.counts_selection.tolist() and budgets == rule.checkpoints[:t].tolist()
        assert prefix == full.counts_prefix[:t].tolist()  # rounds = fixed-N prefix counts
        c_a = int(np.argmax(full.counts_selection))
        assert budgets[-1] == int(decide_stream(rule, full.counts_prefix[:, c_a]).samples)  # the rule's stop
        samples.append(budgets[-1])
        one = drive_one(rule, lambda s, a, b, i=i: sampler.count_range(data[i][0], i, s, a, b), sampler.config.n0)
        assert (one.counts_selection.tolist(), one.checkpoints.tolist(), one.counts_at_checkpoints.tolist()) == (
            sel,
            budgets,
            prefix,
        )
    assert min(samples) < 600 and max(samples) > rule.checkpoints[0]  # stops at different rounds
    for batch in (1, 7, 61, 5000):
        other, _, _ = rounds_setup(noise_name, batch, **params)
        assert {r.idx: as_tuple(r) for r in run_rounds(other, data, range(6), rule)} == reference


def test_rounds_draw_nothing_after_the_stop_and_keep_batches_full():
    from randsmooth.rounds import run_rounds

    sampler, data, rule = rounds_setup("gaussian", 50)
    drawn: dict[tuple[int, int], int] = {}
    sizes: list[int] = []
    describe = sampler._describe

    def spy(rows, num_rows):
        sizes.append(num_rows)
        for r in rows:
            key = (r.example.idx, r.stream)
            drawn[key] = max(drawn.get(key, 0), r.j0 + r.count)
        return describe(rows, num_rows)

    sampler._describe = spy
    records = list(run_rounds(sampler, data, range(6), rule))
    for rec in records:
        assert drawn[(rec.idx, 0)] == 10 and drawn[(rec.idx, 1)] == rec.prefix_budgets[-1]
        assert rec.counts_estimation.sum() == rec.prefix_budgets[-1]
    total = sum(10 + int(rec.prefix_budgets[-1]) for rec in records)
    assert sum(sizes) == total
    assert sum(s < 50 for s in sizes) <= 1 + sum(int(r.prefix_budgets.size) for r in records) // 6  # mostly full


def test_rounds_refuse_block_streams_and_foreign_checkpoints():
    from randsmooth.rounds import run_rounds

    sampler, data, rule = rounds_setup("gaussian", 50)
    legacy = CountSampler(sampler.model, sampler.noise, 2, "cpu", dataclasses.replace(sampler.config, rng="block-v1"))
    with pytest.raises(ValueError, match="philox-v1"):
        list(run_rounds(legacy, data, range(2), rule))
    plain = CountSampler(sampler.model, sampler.noise, 2, "cpu", SamplerConfig(n0=10, n=600, batch=50))
    with pytest.raises(ValueError, match="prefix budgets"):
        list(run_rounds(plain, data, range(2), rule))


class NanOnLargeInputs(torch.nn.Module):
    """``model`` with NaN logits on inputs that have a coordinate above 50 in magnitude."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)
        large = (x.flatten(1).abs().amax(dim=1) > 50).unsqueeze(1)
        return torch.where(large, torch.full_like(logits, float("nan")), logits)


def test_non_finite_logits_stop_at_the_first_example_that_has_them():
    """NaN logits are never counted (argmax would give class 0 and a certificate): the example is
    named, the examples before it keep their counts, and the counts of finite rows are unchanged."""
    model, data = toy_dataset(4)

    broken = [data[0], data[1], (data[2][0] + 100.0, data[2][1]), data[3]]
    config = SamplerConfig(n0=10, n=100, batch=64)
    sampler = CountSampler(NanOnLargeInputs(model), get_noise("gaussian", 0.5, DIM), 2, "cpu", config)
    got = []
    with pytest.raises(ValueError, match=r"example 2: the model returned non-finite logits \(NaN or inf\) on 110 of"):
        for record in sampler.run(broken, range(4)):
            got.append(record)
    assert [r.idx for r in got] == [0, 1]
    clean = CountSampler(model, get_noise("gaussian", 0.5, DIM), 2, "cpu", config)
    assert sampled_counts(got) == sampled_counts(clean.run(data, range(2)))


def test_non_finite_logits_stop_sequential_rounds_and_count_range():
    """The rounds driver and ``count_range`` refuse NaN logits as the fixed-N pipeline does (the extra
    count column never reaches a rule or a record)."""
    from randsmooth.rounds import run_rounds
    from randsmooth.sequential import make_rule

    model, data = toy_dataset(3)

    broken = [data[0], (data[1][0] + 100.0, data[1][1]), data[2]]
    rule = make_rule("grid", [np.nextafter(0.5, 1.0)], 400, 0.01, first=20, ratio=2.0)
    config = SamplerConfig(n0=10, n=400, batch=64, prefix_budgets=tuple(rule.checkpoints.tolist()))
    sampler = CountSampler(NanOnLargeInputs(model), get_noise("gaussian", 0.5, DIM), 2, "cpu", config)
    with pytest.raises(ValueError, match=r"example 1: the model returned non-finite logits"):
        list(run_rounds(sampler, broken, range(3), rule))
    with pytest.raises(ValueError, match=r"example 1: the model returned non-finite logits \(NaN or inf\) on 30 of"):
        sampler.count_range(broken[1][0], 1, "estimation", 10, 40)
    assert sampler.count_range(data[0][0], 0, "estimation", 0, 40).shape == (2,)
