"""Inner attacks: SmoothAdv PGD, SmoothMix-PGD, CAT-RS's noise attack and ADAPTIVEADV (Sun et al. Alg. 1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from randsmooth.losses.attacks import adaptive_noise_attack, frozen_eval, row_norms
from randsmooth.losses.catrs import catrs_noise_attack, low_confidence_term
from randsmooth.losses.smoothadv import smoothadv_attack, smoothed_nll_objective
from randsmooth.losses.smoothing import kl_to_target, noise_draws, repeat_copies
from randsmooth.losses.smoothmix import smoothmix_attack
from randsmooth.sampling import get_noise

DIM = 64


def setup(n: int = 8, m: int = 3, sigma: float = 0.5, seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(DIM, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10))
    model.train()
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.rand((n, 1, 8, 8), generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    delta = noise_draws(x, m, get_noise("gaussian", sigma, DIM), g)
    return model, x, y, delta


def test_frozen_eval_restores_mode_and_flags() -> None:
    model, *_ = setup()
    next(model.parameters()).requires_grad_(False)
    flags = [p.requires_grad for p in model.parameters()]
    with frozen_eval(model):
        assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert model.training and [p.requires_grad for p in model.parameters()] == flags


def test_smoothadv_attack_increases_the_smoothed_nll_within_the_ball_and_the_box() -> None:
    m, eps = 3, 0.5
    model, x, y, delta = setup(m=m)
    x_adv = smoothadv_attack(model, x, y, delta, m, eps, steps=5)
    assert model.training
    assert (row_norms(x_adv - x) <= eps + 1e-5).all() and x_adv.min() >= 0 and x_adv.max() <= 1
    with frozen_eval(model), torch.no_grad():
        objective = smoothed_nll_objective(model, y, delta, m)
        assert objective(x_adv).sum() > objective(x).sum()
    assert torch.equal(smoothadv_attack(model, x, y, delta, m, eps, steps=0), x)


def test_smoothmix_attack_projections() -> None:
    m, alpha = 2, 0.4
    model, x, y, delta = setup(m=m)
    kw = dict(alpha=alpha, steps=4, maxnorm=0.6, maxnorm_s=0.3)
    x_init, x_adv = smoothmix_attack(model, x, y, delta, m, mix_step=1, **kw)
    assert (row_norms(x_adv - x) <= 0.6 + 1e-5).all() and (row_norms(x_init - x) <= 0.3 + 1e-5).all()
    for t in (x_init, x_adv):
        assert t.min() >= 0 and t.max() <= 1
    with frozen_eval(model), torch.no_grad():
        objective = smoothed_nll_objective(model, y, delta, m)
        assert objective(x_adv).sum() > objective(x).sum()
    clean, _ = smoothmix_attack(model, x, y, delta, m, mix_step=0, **kw)
    assert torch.equal(clean, x)  # mix_step 0: the clean side is x itself
    late, _ = smoothmix_attack(model, x, y, delta, m, mix_step=9, **kw)
    assert torch.equal(late, x)  # mix_step >= T: never reached, x itself (as the reference)


def test_catrs_noise_attack_keeps_mean_and_scale_and_raises_the_kl() -> None:
    m = 2
    model, x, y, delta = setup(m=m)
    targets = torch.softmax(torch.randn(x.shape[0], 10, generator=torch.Generator().manual_seed(4)), 1)
    inputs, rep = repeat_copies(x, m), repeat_copies(targets, m)
    attacked = catrs_noise_attack(model, inputs, rep, delta, epsilon=1.0, steps=4)
    flat, flat0 = attacked.flatten(1), delta.flatten(1)
    torch.testing.assert_close(flat.mean(1), flat0.mean(1), rtol=1e-5, atol=1e-6)
    # the reference divides by the uncentred RMS: the RMS is kept up to the per-copy mean
    torch.testing.assert_close(flat.pow(2).mean(1).sqrt(), flat0.pow(2).mean(1).sqrt(), rtol=2e-2, atol=0)
    assert not torch.equal(attacked, delta)
    with frozen_eval(model), torch.no_grad():
        assert kl_to_target(rep, model(inputs + attacked)).sum() > kl_to_target(rep, model(inputs + delta)).sum()
    assert torch.equal(catrs_noise_attack(model, inputs, rep, delta, epsilon=1.0, steps=0), delta)


def test_catrs_low_confidence_term_keeps_the_k_smallest() -> None:
    ce = torch.tensor([[3.0, 1.0, 2.0, 4.0], [1.0, 1.0, 5.0, 0.5]])
    torch.testing.assert_close(low_confidence_term(ce, torch.tensor([1, 4])), torch.tensor([1.0 / 4, 7.5 / 4]))
    torch.testing.assert_close(low_confidence_term(ce, torch.tensor([2, 3])), torch.tensor([3.0 / 4, 2.5 / 4]))


def adaptive(model, x, y, delta, m, steps, eps=0.5):
    inputs, labels = repeat_copies(x, m), repeat_copies(y, m)
    with frozen_eval(model):
        return adaptive_noise_attack(model, inputs, labels, delta, steps, eps), inputs, labels


def test_adaptive_attack_invariants() -> None:
    m = 4
    model, x, y, delta = setup(n=16, m=m, sigma=0.25)
    with frozen_eval(model), torch.no_grad():
        wrong0 = model(repeat_copies(x, m) + delta).argmax(1) != repeat_copies(y, m)
    assert 0 < wrong0.sum() < wrong0.numel()  # both kinds of copies occur
    results = []
    for steps in range(5):
        out, inputs, labels = adaptive(model, x, y, delta, m, steps)
        torch.testing.assert_close(row_norms(out), row_norms(delta), rtol=1e-5, atol=0)  # every copy keeps ||delta||
        assert torch.equal(out[wrong0], delta[wrong0])  # copies misclassified at the start are not attacked
        results.append(out)
    assert torch.equal(results[0], delta)  # T = 0 is the identity
    assert not torch.equal(results[4], delta)
    with frozen_eval(model), torch.no_grad():
        for t in range(4):
            # a copy whose returned noise fools the model keeps it when T grows (first fooling noise, or
            # the unchecked last iterate which step t + 1 then finds fooling)
            fooled = model(inputs + results[t]).argmax(1) != labels
            assert torch.equal(results[t + 1][fooled], results[t][fooled])
        ce = F.cross_entropy(model(inputs + results[4]), labels, reduction="sum")
        assert ce > F.cross_entropy(model(inputs + delta), labels, reduction="sum")  # the attack raises the loss
