"""Training losses: Gaussian augmentation (m copies) and stability training (Yang and Li variants)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical, kl_divergence

from randsmooth.losses import (
    LossResult,
    StepContext,
    get_loss,
    kl_categorical,
    loss_names,
    noisy_copies,
    soft_cross_entropy,
    weighted_mean,
)
from randsmooth.models import build_model
from randsmooth.sampling import get_noise

SHAPE = (6, 1, 8, 8)
DIM = 64


def model_and_batch(seed: int = 0) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    model = build_model("digits_cnn", num_classes=10, in_channels=1, mean=[0.3], std=[0.4], width=8)
    g = torch.Generator().manual_seed(seed + 100)
    return model, torch.rand(SHAPE, generator=g), torch.randint(0, 10, (SHAPE[0],), generator=g)


def ctx(
    sigma: float | None, seed: int = 0, m: int = 1, weights: torch.Tensor | None = None, name: str = "gaussian"
) -> StepContext:
    noise = None if sigma is None else get_noise(name, sigma, DIM)
    return StepContext(noise=noise, generator=torch.Generator().manual_seed(seed), num_noise=m, weights=weights)


class ConstantModel(nn.Module):
    """Logits that ignore the input: noisy copies give identical outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.linspace(-1.0, 1.0, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(x.shape[0], -1) + 0.0 * x.flatten(1).sum(1, keepdim=True)


def test_registry() -> None:
    assert {"gaussian", "stability"} <= set(loss_names())
    with pytest.raises(ValueError, match="unknown training method 'macer2'"):
        get_loss("macer2")
    with pytest.raises(ValueError, match="unexpected parameter"):
        get_loss("gaussian", weight=1.0)
    with pytest.raises(ValueError, match="variant"):
        get_loss("stability", variant="other")
    with pytest.raises(ValueError, match="weight"):
        get_loss("stability", weight=-1.0)
    assert get_loss("stability").params() == {"weight": 6.0, "variant": "yang"}
    assert get_loss("stability", variant="li").params() == {"weight": 2.0, "variant": "li"}


def test_gaussian_with_tiny_sigma_equals_clean_cross_entropy() -> None:
    model, x, y = model_and_batch()
    model.eval()
    result = get_loss("gaussian")(model, x, y, ctx(1e-9))
    assert isinstance(result, LossResult) and result.loss.ndim == 0
    torch.testing.assert_close(result.loss, F.cross_entropy(model(x), y), rtol=1e-6, atol=1e-6)
    clean = get_loss("gaussian")(model, x, y, ctx(None))  # noise None = clean training
    torch.testing.assert_close(clean.loss, F.cross_entropy(model(x), y), rtol=0, atol=0)
    noisy = get_loss("gaussian")(model, x, y, ctx(0.5))
    assert abs(noisy.loss.item() - clean.loss.item()) > 1e-4


def test_gaussian_m_copies_shapes_and_value() -> None:
    model, x, y = model_and_batch()
    model.eval()
    m = 3
    result = get_loss("gaussian")(model, x, y, ctx(0.25, seed=7, m=m))
    assert result.logits.shape == (SHAPE[0] * m, 10)
    assert torch.equal(result.labels, y.repeat_interleave(m))
    # independent recomputation: the same generator stream, copies in row order i*m + j
    g = torch.Generator().manual_seed(7)
    noisy = get_noise("gaussian", 0.25, DIM).sample(x.repeat_interleave(m, dim=0), g)
    expected = F.cross_entropy(model(noisy), y.repeat_interleave(m))
    torch.testing.assert_close(result.loss, expected, rtol=1e-6, atol=1e-6)
    assert set(result.stats) == {"ce"}


def test_noisy_copies_layout() -> None:
    x = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 1, 8, 8).contiguous()
    copies = noisy_copies(x, 4, get_noise("gaussian", 1e-6, DIM), torch.Generator().manual_seed(0))
    assert copies.shape == (12, 1, 8, 8)
    torch.testing.assert_close(copies[:, 0, 0, 0], torch.tensor([0.0] * 4 + [1.0] * 4 + [2.0] * 4), atol=1e-5, rtol=0)
    draws = noisy_copies(
        torch.zeros(2000, 1, 8, 8), 2, get_noise("gaussian", 0.5, DIM), torch.Generator().manual_seed(1)
    )
    assert abs(draws.std().item() - 0.5) < 0.01  # sigma = per-coordinate RMS
    assert not torch.equal(draws[0], draws[1])  # copies of the same input get independent noise
    with pytest.raises(ValueError, match="num_noise"):
        noisy_copies(x, 0, None, None)


def test_weighted_mean() -> None:
    values = torch.tensor([1.0, 2.0, 6.0])
    assert weighted_mean(values, None).item() == pytest.approx(3.0)
    assert weighted_mean(values, torch.tensor([0.0, 0.0, 2.0])).item() == pytest.approx(6.0)
    assert weighted_mean(values, torch.tensor([1.0, 1.0, 2.0])).item() == pytest.approx(15.0 / 4)
    with pytest.raises(ValueError, match="positive finite sum"):
        weighted_mean(values, torch.zeros(3))  # all-zero weights: no mean, never 0 / 0
    with pytest.raises(ValueError, match="shape"):
        weighted_mean(values, torch.ones(2))
    with pytest.raises(ValueError, match="non-negative"):
        weighted_mean(values, torch.tensor([1.0, -1.0, 1.0]))


def test_gaussian_per_example_weights() -> None:
    model, x, y = model_and_batch()
    model.eval()
    weights = torch.zeros(SHAPE[0])
    weights[2] = 1.0
    result = get_loss("gaussian")(model, x, y, ctx(1e-9, weights=weights))
    expected = F.cross_entropy(model(x[2:3]), y[2:3])
    torch.testing.assert_close(result.loss, expected, rtol=1e-5, atol=1e-6)


def test_kl_and_soft_cross_entropy_match_independent_formulas() -> None:
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(5, 10, generator=g), torch.randn(5, 10, generator=g)
    expected = kl_divergence(Categorical(logits=a), Categorical(logits=b))
    torch.testing.assert_close(kl_categorical(a, b), expected, rtol=1e-5, atol=1e-6)
    p = torch.softmax(a, dim=1)
    torch.testing.assert_close(soft_cross_entropy(a, b), -(p * torch.log_softmax(b, dim=1)).sum(1))
    assert (kl_categorical(a, a).abs() < 1e-6).all()


def test_stability_kl_zero_for_identical_copies() -> None:
    model = ConstantModel()
    x, y = torch.rand(SHAPE), torch.arange(SHAPE[0]) % 10
    result = get_loss("stability")(model, x, y, ctx(0.5))
    assert result.stats["stability"].item() == pytest.approx(0.0, abs=1e-7)
    torch.testing.assert_close(result.loss, F.cross_entropy(model(x), y))


def test_stability_yang_value_positive_kl_and_gradients() -> None:
    model, x, y = model_and_batch()
    model.eval()  # deterministic BN so the value can be recomputed
    loss = get_loss("stability", weight=6.0)
    result = loss(model, x, y, ctx(0.5, seed=11))
    g = torch.Generator().manual_seed(11)
    noise = get_noise("gaussian", 0.5, DIM)
    l1, l2 = model(noise.sample(x, g)), model(noise.sample(x, g))
    kl = kl_divergence(Categorical(logits=l1), Categorical(logits=l2)).mean()
    assert kl.item() > 1e-6
    torch.testing.assert_close(result.stats["stability"], kl.detach(), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(result.loss, F.cross_entropy(l1, y) + 6.0 * kl, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(result.logits, l1)
    # gradients flow, and through the KL term (result differs from CE alone)
    result.loss.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    assert all(gr is not None and torch.isfinite(gr).all() for gr in grads)
    assert sum(gr.abs().sum() for gr in grads) > 0
    model.zero_grad()
    get_loss("stability", weight=0.0)(model, x, y, ctx(0.5, seed=11)).loss.backward()
    assert any(not torch.allclose(a, p.grad) for a, p in zip(grads, model.parameters(), strict=True))


def test_stability_li_variant() -> None:
    model, x, y = model_and_batch()
    model.eval()
    result = get_loss("stability", variant="li")(model, x, y, ctx(0.5, seed=5))
    g = torch.Generator().manual_seed(5)
    clean = model(x)
    noisy = model(get_noise("gaussian", 0.5, DIM).sample(x, g))
    soft = -(torch.softmax(clean, 1) * torch.log_softmax(noisy, 1)).sum(1).mean()
    torch.testing.assert_close(result.loss, F.cross_entropy(clean, y) + 2.0 * soft, rtol=1e-5, atol=1e-6)
    result.loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_stability_rejects_bad_context() -> None:
    model, x, y = model_and_batch()
    with pytest.raises(ValueError, match="num_noise must be 1"):
        get_loss("stability")(model, x, y, ctx(0.5, m=2))
    with pytest.raises(ValueError, match="needs a noise"):
        get_loss("stability")(model, x, y, ctx(None))


def test_losses_are_reproducible_from_the_generator_and_work_with_other_noises() -> None:
    model, x, y = model_and_batch()
    model.eval()
    for name in ("gaussian", "stability"):
        a = get_loss(name)(model, x, y, ctx(0.5, seed=3, name="laplace")).loss
        b = get_loss(name)(model, x, y, ctx(0.5, seed=3, name="laplace")).loss
        c = get_loss(name)(model, x, y, ctx(0.5, seed=4, name="laplace")).loss
        assert torch.equal(a, b) and not torch.equal(a, c)
