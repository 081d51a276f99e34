"""Every training method: the loss contract (devices, shapes, no parameter gradients left by inner
attacks, finite non-zero gradients), reductions to known losses, and one-line errors for invalid
hyper-parameters. The values themselves are checked in test_losses_values.py."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from devices import DEVICES
from randsmooth.losses import StepContext, get_loss, loss_names
from randsmooth.losses.smoothing import probit_margin
from randsmooth.sampling import get_noise

DIM = 64
COST = {"preset": "s-seed", "dataset": "cifar10"}  # seed class 3 -> every other class


def mlp(seed: int = 0) -> nn.Module:
    """A BatchNorm-free model: train and eval mode agree, so a step's effect is measurable exactly."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(DIM, 32), nn.ReLU(), nn.Linear(32, 10))


def batch(seed: int = 0, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed + 100)
    return torch.rand((6, 1, 8, 8), generator=g).to(device), torch.tensor([0, 1, 2, 3, 3, 5], device=device)


def ctx(m: int, seed: int = 1, sigma: float = 0.25, epoch: int = 0, weights=None, device: str = "cpu") -> StepContext:
    return StepContext(
        noise=get_noise("gaussian", sigma, DIM),
        generator=torch.Generator(device=device).manual_seed(seed),
        device=torch.device(device),
        num_noise=m,
        epoch=epoch,
        num_epochs=10,
        example_index=torch.arange(6),
        weights=weights,
    )


def build(name: str, params: dict, m: int):
    loss = get_loss(name, **params)
    loss.check(num_noise=m, noise=get_noise("gaussian", 0.25, DIM), num_classes=10)
    if loss.needs_soft_targets:
        loss.set_soft_targets(torch.softmax(torch.randn(6, 10, generator=torch.Generator().manual_seed(5)), 1), 16, 0)
    return loss


METHODS = [
    ("gaussian", {}, 2),
    ("stability", {}, 1),
    ("smoothadv", {"epsilon": 0.5, "steps": 2, "warmup": 1}, 2),
    ("macer", {}, 4),
    ("consistency", {}, 2),
    ("smoothmix", {"alpha": 0.5, "steps": 2, "mix_step": 1, "warmup": 1}, 2),
    ("catrs", {"steps": 2, "teacher_samples": 16}, 2),
    ("sun2025", {"switch_epoch": 0, "discard_source": "teacher", "attack_steps": 2, "teacher_samples": 16}, 2),
    ("acr_discard", {"switch_epoch": 1}, 2),
    ("acr_reweight", {"switch_epoch": 1}, 2),
    ("acr_adaptive_attack", {"switch_epoch": 0, "attack_steps": 2}, 2),
    ("gaussian_cs", {"cost": COST}, 2),
    ("smoothadv_cs", {"cost": COST, "steps": 2, "warmup": 1}, 2),
    ("smoothmix_cs", {"cost": COST, "steps": 2, "warmup": 1}, 2),
    ("margin_cs", {"cost": COST}, 4),
    ("margin_cs", {"cost": COST, "variant": "pairwise"}, 4),
    ("margin_cs", {"cost": COST, "variant": "cost_weighted"}, 4),
]


def test_every_registered_method_is_covered() -> None:
    assert {name for name, _, _ in METHODS} == set(loss_names())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name, params, m", METHODS, ids=[f"{n}-{p.get('variant', '')}" for n, p, _ in METHODS])
def test_loss_contract_with_finite_gradients(name: str, params: dict, m: int, device: str) -> None:
    model, (x, y) = mlp().to(device), batch(device=device)
    loss = build(name, params, m)
    before = loss(model, x, y, ctx(m, device=device))
    assert before.loss.device.type == device and before.logits.device.type == device
    assert all(p.grad is None for p in model.parameters())  # inner attacks leave no parameter gradients
    assert model.training and all(p.requires_grad for p in model.parameters())
    assert before.loss.ndim == 0 and torch.isfinite(before.loss)
    assert before.logits.shape[0] == (before.labels if before.labels is not None else y).shape[0]
    assert all(torch.as_tensor(v).ndim == 0 for v in before.stats.values())
    before.loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0
    again = loss(mlp().to(device), x, y, ctx(m, device=device))  # same seed: same noise and random draws
    torch.testing.assert_close(again.loss, before.loss)


def losses_of(name: str, params: dict, m: int, **kw) -> torch.Tensor:
    model, (x, y) = mlp(), batch()
    return build(name, params, m)(model, x, y, ctx(m, **kw)).loss


def test_reductions_to_the_m_copy_gaussian_loss() -> None:
    gaussian = losses_of("gaussian", {}, 3)
    same = {
        "gaussian_cs with seed_weight 0": losses_of("gaussian_cs", {"cost": COST, "seed_weight": 0.0}, 3),
        "consistency with lbd = eta = 0": losses_of("consistency", {"lbd": 0.0, "eta": 0.0}, 3),
        "sun2025 with every strategy off": losses_of(
            "sun2025", {"discard": False, "reweight": False, "adaptive_attack": False}, 3
        ),
        "sun2025 before its switch epoch": losses_of("sun2025", {"switch_epoch": 5}, 3),
        "smoothadv with epsilon 0": losses_of("smoothadv", {"epsilon": 0.0}, 3),
        "acr_adaptive_attack with T = 0": losses_of("acr_adaptive_attack", {"switch_epoch": 0, "attack_steps": 0}, 3),
    }
    for what, value in same.items():
        assert torch.equal(value, gaussian), what


def test_macer_with_lambda_zero_is_the_soft_smoothed_nll() -> None:
    m = 4
    model, (x, y) = mlp(), batch()
    value = build("macer", {"lbd": 0.0}, m)(model, x, y, ctx(m)).loss
    g = torch.Generator().manual_seed(1)
    noisy = get_noise("gaussian", 0.25, DIM).sample(x.repeat_interleave(m, 0), g)
    probs = torch.softmax(model(noisy), 1).view(6, m, 10).mean(1)
    expected = -torch.log(probs[torch.arange(6), y] + 1e-10).mean()
    torch.testing.assert_close(value, expected)
    assert torch.equal(losses_of("margin_cs", {"cost": COST, "lambda1": 0.0}, m), value)
    deferred = build("macer", {"defer_epochs": 3}, m)(model, x, y, ctx(m, epoch=2)).loss
    assert torch.equal(deferred, value)


def test_macer_robustness_term_matches_a_direct_computation() -> None:
    m, sigma, beta, gamma = 4, 0.25, 16.0, 8.0
    model, (x, y) = mlp(), batch()
    result = build("macer", {"lbd": 1.0, "gamma": gamma, "beta": beta}, m)(model, x, y, ctx(m))
    g = torch.Generator().manual_seed(1)
    logits = model(get_noise("gaussian", sigma, DIM).sample(x.repeat_interleave(m, 0), g)).double()
    h = torch.softmax(beta * logits, 1).view(6, m, 10).mean(1)
    top2 = h.topk(2, dim=1)
    normal = torch.distributions.Normal(0.0, 1.0)
    xi = normal.icdf(top2.values[:, 0]) - normal.icdf(top2.values[:, 1])
    keep = (top2.indices[:, 0] == y) & torch.isfinite(xi) & (xi <= gamma)
    expected = (sigma / 2) * torch.where(keep, gamma - xi, torch.zeros_like(xi)).mean()
    torch.testing.assert_close(result.stats["robustness"].double(), expected, rtol=1e-4, atol=1e-6)


def test_consistency_terms_match_a_direct_computation() -> None:
    m = 3
    model, (x, y) = mlp(), batch()
    result = build("consistency", {"lbd": 2.0, "eta": 0.5}, m)(model, x, y, ctx(m))
    g = torch.Generator().manual_seed(1)
    logits = model(get_noise("gaussian", 0.25, DIM).sample(x.repeat_interleave(m, 0), g)).view(6, m, 10)
    p = torch.softmax(logits, 2)
    p_bar = p.mean(1)
    kl = (p_bar[:, None] * (p_bar[:, None].log() - p.log())).sum(2).mean(1)
    ent = -(p_bar * p_bar.log()).sum(1)
    ce = F.cross_entropy(logits.reshape(-1, 10), y.repeat_interleave(m), reduction="none").view(6, m).mean(1)
    torch.testing.assert_close(result.loss, (ce + 2.0 * kl + 0.5 * ent).mean())


def test_seed_reweighting_adds_the_seed_mean() -> None:
    m = 2
    base = losses_of("gaussian", {}, m)
    model, (x, y) = mlp(), batch()
    result = build("gaussian_cs", {"cost": COST, "seed_weight": 0.5}, m)(model, x, y, ctx(m))
    per = build("gaussian", {}, m).per_example(model, x, y, ctx(m)).losses
    torch.testing.assert_close(result.loss, base + 0.5 * per[y == 3].mean())
    no_seed = build("gaussian_cs", {"cost": {"num_classes": 10, "pairs": [[9, 1, 1.0]]}}, m)
    assert torch.equal(no_seed(model, x, y, ctx(m)).loss, base)  # no seed in the batch: no NaN, no change


@pytest.mark.parametrize(
    "name, params, key",
    [
        ("smoothadv", {"epsilon": -0.1}, "method.params.epsilon"),
        ("smoothadv", {"steps": 1.5}, "method.params.steps"),
        ("smoothadv", {"warmup": 0}, "method.params.warmup"),
        ("macer", {"gamma": 0}, "method.params.gamma"),
        ("macer", {"lbd": float("nan")}, "method.params.lbd"),
        ("consistency", {"eta": -1}, "method.params.eta"),
        ("smoothmix", {"alpha": 0}, "method.params.alpha"),
        ("smoothmix", {"maxnorm": -1.0}, "method.params.maxnorm"),
        ("catrs", {"confidence_mask": "yes"}, "method.params.confidence_mask"),
        ("catrs", {"teacher_samples": 0}, "method.params.teacher_samples"),
        ("sun2025", {"discard_threshold": 1.5}, "method.params.discard_threshold"),
        ("sun2025", {"reweight_alpha": 1.0}, "method.params.reweight_alpha"),
        ("sun2025", {"reweight_min_p": 0.1}, "method.params.reweight_min_p"),
        ("sun2025", {"switch_epoch": 0}, "method.params.discard_source"),
        ("sun2025", {"discard_source": "file"}, "method.params.discard_source"),
        ("acr_adaptive_attack", {"attack_epsilon": -1.0}, "method.params.attack_epsilon"),
        ("gaussian_cs", {}, "method.params.cost"),
        ("gaussian_cs", {"cost": COST, "seed_weight": -1}, "method.params.seed_weight"),
        ("gaussian_cs", {"cost": {"num_classes": 10, "pairs": [[3, 12, 1.0]]}}, "method.params.cost"),
        ("smoothadv_cs", {"cost": {"num_classes": 10, "pairs": [[3, 5, -1.0]]}}, "method.params.cost"),
        ("margin_cs", {"cost": [[0, -1], [1, 0]]}, "method.params.cost"),
        ("margin_cs", {"cost": {"preset": "nope", "dataset": "cifar10"}}, "method.params.cost"),
        ("margin_cs", {"cost": COST, "variant": "groupwise"}, "method.params.variant"),
        ("margin_cs", {"cost": COST, "lambda2": -3}, "method.params.lambda2"),
        ("margin_cs", {"cost": COST, "gamma1": 0.0}, "method.params.gamma1"),
        ("margin_cs", {"cost": COST, "gamma2": 0.0}, "method.params.gamma2"),
        ("margin_cs", {"cost": COST, "beta": 0.0}, "method.params.beta"),
    ],
)
def test_invalid_hyper_parameters_fail_with_one_line_naming_the_key(name: str, params: dict, key: str) -> None:
    with pytest.raises(ValueError) as info:
        get_loss(name, **params)
    assert key in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("key", ["gamma1", "gamma2", "beta"])
def test_margin_cs_thresholds_accept_any_positive_value(key: str) -> None:
    """The lower bound of Margin-CS's thresholds and temperature is 0, open: small positive values pass."""
    assert getattr(get_loss("margin_cs", cost=COST, **{key: 0.01}), key) == 0.01


@pytest.mark.parametrize(
    "name, params, m, noise, classes, key",
    [
        ("consistency", {}, 1, "gaussian", 10, "'num_noise'"),
        ("macer", {}, 4, "laplace", 10, "Gaussian"),
        ("macer", {}, 4, None, 10, "'noise.sigma'"),
        ("smoothadv", {}, 1, None, 10, "'noise.sigma'"),
        ("stability", {}, 2, "gaussian", 10, "num_noise must be 1"),
        (
            "gaussian_cs",
            {"cost": {"num_classes": 12, "pairs": [[3, 11, 1.0]]}},
            1,
            "gaussian",
            10,
            "method.params.cost",
        ),
        ("margin_cs", {"cost": COST}, 4, "gaussian", 2, "method.params.cost"),
    ],
)
def test_run_checks_fail_before_training(name, params, m, noise, classes, key) -> None:
    loss = get_loss(name, **params)
    with pytest.raises(ValueError, match=key) as info:
        loss.check(num_noise=m, noise=None if noise is None else get_noise(noise, 0.25, DIM), num_classes=classes)
    assert "\n" not in str(info.value)


def test_probit_margin_drops_extreme_probabilities_with_finite_gradients() -> None:
    """float32 probabilities within ~3e-8 of 0 or 1 have an infinite inverse CDF (as in the references)."""
    p_a = torch.tensor([0.9, 0.99, 1.0, 0.6], requires_grad=True)
    p_b = torch.tensor([1e-40, 1e-3, 0.0, 0.3], requires_grad=True)
    xi, finite = probit_margin(p_a, p_b)
    assert finite.tolist() == [False, True, False, True]
    assert xi[~finite].tolist() == [0.0, 0.0]  # not NaN: callers may multiply by the mask
    (xi * finite).sum().backward()
    assert torch.isfinite(p_a.grad).all() and torch.isfinite(p_b.grad).all()
    assert xi[3].item() == pytest.approx(0.253347 + 0.524401, abs=1e-5)


@pytest.mark.parametrize("name, params, m", METHODS, ids=[f"{n}-{p.get('variant', '')}" for n, p, _ in METHODS])
def test_step_passes_counts_the_forward_passes_of_a_step(name: str, params: dict, m: int) -> None:
    """``step_passes`` (what the cost and wall-time estimates charge per noisy copy and step) is
    the number of examples the model actually forwards in one step, divided by batch x m."""
    for epoch in (0, 5):
        model, rows = mlp(), []
        model.register_forward_hook(lambda module, args, out, rows=rows: rows.append(args[0].shape[0]))
        loss = build(name, params, m)
        x, y = batch()
        loss(model, x, y, ctx(m, epoch=epoch))
        assert sum(rows) == pytest.approx(loss.step_passes(epoch) * len(y) * m), (epoch, rows)
