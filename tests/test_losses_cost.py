"""Xin et al.'s Margin-CS hinge terms against hand-computed values, and the cost-matrix helpers."""

from __future__ import annotations

import pytest
import torch

from randsmooth.costs import from_config
from randsmooth.losses import StepContext, get_loss
from randsmooth.losses.cost_sensitive import cost_rows, seed_mask
from randsmooth.losses.margin_cs import margin_cs_terms
from randsmooth.losses.smoothing import smoothed_probs
from randsmooth.sampling import get_noise

H1 = [0.05, 0.05, 0.10, 0.50, 0.05, 0.10, 0.05, 0.04, 0.03, 0.03]  # cat, correct
H2 = [0.6, 0.3] + [0.0125] * 8  # airplane, correct
H3 = [0.05, 0.05, 0.10, 0.20, 0.05, 0.50, 0.01, 0.02, 0.01, 0.01]  # cat -> dog
H4 = [0.05, 0.05, 0.10, 0.20, 0.05, 0.02, 0.50, 0.02, 0.01, 0.01]  # cat -> frog
SIGMA, LAMBDA1, GAMMA1, GAMMA2 = 0.5, 3.0, 16.0, 4.0


def terms(rows, labels, cost, variant):
    h = torch.tensor(rows, dtype=torch.float64)
    sensitive, normal = margin_cs_terms(h, torch.tensor(labels), from_config(cost), variant, GAMMA1, GAMMA2)
    return sensitive.tolist(), normal.tolist()


def radius_term(sensitive, normal):
    return [SIGMA / 2 * (s + n) for s, n in zip(sensitive, normal, strict=True)]


def test_seedwise_terms() -> None:
    sensitive, normal = terms([H1, H2, H3], [3, 0, 3], {"preset": "s-seed", "dataset": "cifar10"}, "seedwise")
    assert sensitive == pytest.approx([14.718448, 0.0, 16.841621], abs=1e-6)
    assert normal == pytest.approx([0.0, 3.222252, 0.0], abs=1e-6)
    assert SIGMA / 2 * sensitive[0] == pytest.approx(3.679612, abs=1e-6)
    assert LAMBDA1 * SIGMA / 2 * sensitive[0] == pytest.approx(11.038836, abs=1e-6)
    assert SIGMA / 2 * normal[1] == pytest.approx(0.805563, abs=1e-6)
    # h3 with cat not a seed: xi < 0 lies outside the normal window (0, gamma2)
    assert terms([H3], [3], {"num_classes": 10, "pairs": [[2, 4, 1.0]]}, "seedwise") == ([0.0], [0.0])


def test_pairwise_terms() -> None:
    s_pair = {"preset": "s-pair", "dataset": "cifar10"}  # 3 -> {5}
    sensitive, normal = terms([H1, H3, H4, H2], [3, 3, 3, 0], s_pair, "pairwise")
    assert sensitive == pytest.approx([14.718448, 16.0, 13.946251, 0.0], abs=1e-6)
    assert normal == pytest.approx([2.718448, 0.0, 0.0, 3.222252], abs=1e-6)
    assert radius_term(sensitive, normal) == pytest.approx([4.359224, 4.0, 3.486563, 0.805563], abs=1e-6)
    m_pair = {"preset": "m-pair", "dataset": "cifar10"}  # 3 -> {2, 4, 5}
    assert radius_term(*terms([H4], [3], m_pair, "pairwise")) == pytest.approx([3.679612], abs=1e-6)


def test_pairwise_top_class_in_omega_has_no_gradient() -> None:
    h = torch.tensor([H3], dtype=torch.float64, requires_grad=True)
    cost = from_config({"preset": "s-pair", "dataset": "cifar10"})
    sensitive, normal = margin_cs_terms(h, torch.tensor([3]), cost, "pairwise", GAMMA1, GAMMA2)
    (sensitive + normal).sum().backward()
    assert sensitive.item() == 16.0 and not h.grad.any()


def test_cost_weighted_terms() -> None:
    s_pair = {"preset": "s-pair", "dataset": "cifar10"}  # one target of cost 1: the pairwise terms
    weighted, pairwise = terms([H1, H4], [3, 3], s_pair, "cost_weighted"), terms([H1, H4], [3, 3], s_pair, "pairwise")
    for a, b in zip(weighted, pairwise, strict=True):
        assert a == pytest.approx(b, abs=1e-9)
    m_pair = {"preset": "m-pair", "dataset": "cifar10"}  # sum over Omega = {2, 4, 5} for h4 (top .5)
    sensitive, _ = terms([H4], [3], m_pair, "cost_weighted")
    assert sensitive == pytest.approx([(16 - 1.281552) + (16 - 1.644854) + (16 - 2.053749)], abs=1e-5)
    ham = {"preset": "ham", "dataset": "ham10000"}  # 0 -> 1 costs 10 (seed 0), 1 -> 0 costs 1 (not a seed)
    sensitive, normal = terms([[0.7, 0.3], [0.3, 0.7]], [0, 1], ham, "cost_weighted")
    assert sensitive == pytest.approx([10 * (16 - 1.048801), 0.0], abs=1e-5)
    assert normal == pytest.approx([4 - 1.048801, 4 - 1.048801], abs=1e-5)


def test_margin_cs_loss_combines_nll_and_hinges() -> None:
    m, beta = 4, 16.0
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    x, y = torch.rand(5, 1, 8, 8), torch.tensor([3, 3, 1, 0, 7])
    cost = {"preset": "m-pair", "dataset": "cifar10"}
    loss = get_loss("margin_cs", cost=cost, variant="pairwise", lambda1=2.0, lambda2=0.5, beta=beta)
    noise = get_noise("gaussian", SIGMA, 64)
    result = loss(model, x, y, StepContext(noise=noise, generator=torch.Generator().manual_seed(3), num_noise=m))
    logits = model(noise.sample(x.repeat_interleave(m, 0), torch.Generator().manual_seed(3)))
    nll = -torch.log(smoothed_probs(logits, m)[torch.arange(5), y] + 1e-10)
    s, n = margin_cs_terms(smoothed_probs(logits, m, beta), y, from_config(cost), "pairwise", GAMMA1, GAMMA2)
    torch.testing.assert_close(result.loss, (nll + SIGMA / 2 * (2.0 * n + 0.5 * s)).mean())


def test_cost_helpers() -> None:
    cost = from_config({"preset": "m-seed", "dataset": "cifar10"})  # seeds 2 and 4
    y = torch.tensor([2, 3, 4, 9])
    assert seed_mask(cost, y).tolist() == [True, False, True, False]
    rows = cost_rows(cost, y)
    assert rows.shape == (4, 10) and rows[0, 2] == 0 and rows[0].sum() == 9 and rows[1].sum() == 0
