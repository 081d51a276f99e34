"""Every training loss against an independent float64 computation from the papers' equations.

The model is a fixed linear layer f(z) = W z + b (D = 6 inputs, K = 4 classes) in float64, the
noise is injected (:class:`FixedNoise` hands out fixed draws in order), and each reference below is
written in plain numpy from the method's equations: the attacks' input gradients are the linear
model's closed forms (no autograd), Phi^-1 is scipy's ``norm.ppf``. The library's loss value is
compared to 1e-9, and its parameter gradient (autograd) to a central finite difference of the
reference with the attacks' outputs held fixed (the references detach them as well).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from scipy.stats import norm
from torch import nn

from randsmooth.losses import EpochContext, StepContext, get_loss, loss_names
from randsmooth.sampling.iid import Gaussian

N, M, K, SHAPE = 5, 3, 4, (1, 2, 3)
D = int(np.prod(SHAPE))
SIGMA = 0.5
Y = np.array([3, 1, 2, 0, 1])
COST = {"num_classes": K, "pairs": [[1, 2, 1.0], [1, 3, 2.5], [3, 0, 1.0]]}  # seeds 1 and 3
SEEDS = np.isin(Y, [1, 3])
OMEGA = {1: {2: 1.0, 3: 2.5}, 3: {0: 1.0}}


# ------------------------------------------------------------------------------------ the setup
def weights(scale: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return scale * rng.standard_normal((K, D)), 0.1 * rng.standard_normal(K)


W0, B0 = weights()
X = np.random.default_rng(1).uniform(0.05, 0.95, (N, D))


def draws(m: int = M, seed: int = 2, scale: float = SIGMA) -> np.ndarray:
    """(N, m, D) fixed noise vectors delta_ij."""
    return scale * np.random.default_rng(seed).standard_normal((N, m, D))


class FixedNoise(Gaussian):
    """Gaussian noise (name, sigma) whose draws are given: ``sample`` returns x + the next one in order."""

    def __init__(self, sigma: float, *tables: np.ndarray) -> None:
        super().__init__(sigma, D)
        self.queue = [torch.from_numpy(t.reshape(-1, D).copy()) for t in tables]

    def sample(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        delta = self.queue.pop(0)
        assert delta.shape == (x.shape[0], D), "noise drawn in an unexpected shape"
        return x + delta.view(x.shape).to(x.dtype)


def linear_model(w: np.ndarray = W0, b: np.ndarray = B0) -> nn.Module:
    model = nn.Sequential(nn.Flatten(), nn.Linear(D, K)).double()
    with torch.no_grad():
        model[1].weight.copy_(torch.from_numpy(w))
        model[1].bias.copy_(torch.from_numpy(b))
    return model.train()


def library(
    name: str,
    params: dict,
    noise: tuple[np.ndarray, ...],
    *,
    m: int = M,
    epoch: int = 0,
    seed: int = 7,
    sample_weights: np.ndarray | None = None,
    targets: np.ndarray | None = None,
    w: np.ndarray = W0,
    b: np.ndarray = B0,
):
    """(loss value, dW, db, result) of the library's loss on the fixed setup, in float64."""
    model = linear_model(w, b)
    loss = get_loss(name, **params)
    fixed = FixedNoise(SIGMA, *noise)
    loss.check(num_noise=m, noise=fixed, num_classes=K)
    if targets is not None:
        loss.set_soft_targets(torch.from_numpy(targets), loss.teacher_samples, loss.teacher_seed)
    ctx = StepContext(
        noise=fixed,
        generator=torch.Generator().manual_seed(seed),
        num_noise=m,
        epoch=epoch,
        num_epochs=20,
        example_index=torch.arange(N),
        weights=None if sample_weights is None else torch.from_numpy(sample_weights),
    )
    x = torch.from_numpy(X.reshape(N, *SHAPE).copy())
    result = loss(model, x, torch.from_numpy(Y), ctx)
    assert not fixed.queue, "not every fixed noise draw was used"
    assert result.loss.dtype == torch.float64
    result.loss.backward()
    return result.loss.item(), model[1].weight.grad.numpy(), model[1].bias.grad.numpy(), result


def uniforms(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """The step generator's first U[0, 1) draws (the only randomness besides the noise)."""
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).numpy()


# ---------------------------------------------------------------------- float64 numpy references
def logits(w: np.ndarray, b: np.ndarray, z: np.ndarray) -> np.ndarray:
    """f(z) = W z + b for rows z (..., D) -> (..., K)."""
    return z @ w.T + b


def log_softmax(a: np.ndarray) -> np.ndarray:
    s = a - a.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


def softmax(a: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(a))


def cross_entropy(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """-log softmax(a)_y along the last axis; y broadcasts against a's leading axes."""
    return -np.take_along_axis(log_softmax(a), np.broadcast_to(y, a.shape[:-1])[..., None], axis=-1)[..., 0]


def kl(t: np.ndarray, a: np.ndarray) -> np.ndarray:
    """KL(t || softmax(a)) = sum_k t_k (log t_k - log q_k), 0 log 0 = 0."""
    log_t = np.log(np.where(t > 0, t, 1.0))
    return (t * (log_t - log_softmax(a))).sum(axis=-1)


def onehot(y: np.ndarray) -> np.ndarray:
    return np.eye(K)[y]


def unit(g: np.ndarray) -> np.ndarray:
    """g / (||g|| + 1e-8) per row (the references' normalised gradient step)."""
    return g / (np.linalg.norm(g, axis=-1, keepdims=True) + 1e-8)


def into_ball(v: np.ndarray, r: float) -> np.ndarray:
    """Rows of v with norm > r scaled to r (torch's renorm: by r / (norm + 1e-7)); r <= 0 gives 0."""
    if r <= 0:
        return np.zeros_like(v)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.where(n > r, v * (r / (n + 1e-7)), v)


def smoothed(w, b, z, delta, beta: float = 1.0) -> np.ndarray:
    """(N, K) soft smoothed classifier mean_j softmax(beta f(z_i + delta_ij)) (Salman et al. 2019, Sec. 3)."""
    return softmax(beta * logits(w, b, z[:, None, :] + delta)).mean(axis=1)


def smoothed_nll_grad(w, b, z, y, delta, eps: float = 1e-20) -> np.ndarray:
    """d/dz of -log(h_y(z) + eps), h = mean_j softmax(W (z + delta_j) + b): closed form of a linear f."""
    p = softmax(logits(w, b, z[:, None, :] + delta))  # (N, m, K)
    p_y = np.take_along_axis(p, y[:, None, None].repeat(p.shape[1], 1), axis=2)  # (N, m, 1)
    dh_da = p_y * (onehot(y)[:, None, :] - p)  # d p_jy / d a_j
    h_y = p_y[..., 0].mean(axis=1)
    return -(dh_da.mean(axis=1) @ w) / (h_y + eps)[:, None]


def ppf_margin(p_a: np.ndarray, p_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Phi^-1(p_a) - Phi^-1(p_b), both finite)."""
    with np.errstate(invalid="ignore"):
        a, c = norm.ppf(p_a), norm.ppf(p_b)
    finite = np.isfinite(a) & np.isfinite(c)
    return np.where(finite, a - c, 0.0), finite


def true_margin(h: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """xi = Phi^-1(h_y) - Phi^-1(max_{j != y} h_j) (Zhai et al. 2020, Eq. 8)."""
    others = np.where(onehot(y) > 0, -np.inf, h).max(axis=1)
    return ppf_margin(h[np.arange(len(y)), y], others)


def mean_of(values: np.ndarray, sample_weights: np.ndarray | None = None) -> float:
    if sample_weights is None:
        return float(values.mean())
    return float((sample_weights * values).sum() / sample_weights.sum())


# per-example reference losses l_i(W, b) -> (N,), given the fixed inputs of the step
def gaussian_ref(w, b, delta, z=X) -> np.ndarray:
    """(1/m) sum_j CE(f(z_i + delta_ij), y_i) (Cohen et al. 2019, Sec. 4 training)."""
    return cross_entropy(logits(w, b, z[:, None, :] + delta), Y[:, None]).mean(axis=1)


def smoothadv_attack_ref(w, b, delta, eps: float, steps: int) -> np.ndarray:
    """Salman et al. (2019), Alg. 1 (PGD-L2 on the input against the soft smoothed classifier)."""
    z = X.copy()
    if steps == 0 or eps == 0:
        return z
    for _ in range(steps):
        z = z + 2 * eps / steps * unit(smoothed_nll_grad(w, b, z, Y, delta))
        z = X + into_ball(np.clip(z, 0, 1) - X, eps)
    return z


def macer_ref(w, b, delta, lbd: float, gamma: float, beta: float) -> np.ndarray:
    """Zhai et al. (2020), Eq. (8): -log(g_y + 1e-10) + lbd (sigma/2) (gamma - xi) on correctly ranked, xi <= gamma."""
    nll = -np.log(smoothed(w, b, X, delta)[np.arange(N), Y] + 1e-10)
    h = smoothed(w, b, X, delta, beta)
    xi, finite = true_margin(h, Y)
    active = (h.argmax(axis=1) == Y) & finite & (xi <= gamma)
    return nll + lbd * SIGMA / 2 * np.where(active, gamma - xi, 0.0)


def consistency_ref(w, b, delta, lbd: float, eta: float) -> np.ndarray:
    """Jeong & Shin (2020), Eq. (6)-(7): CE + lbd (1/m) sum_j KL(p_bar || p_j) + eta H(p_bar)."""
    a = logits(w, b, X[:, None, :] + delta)
    p_bar = softmax(a).mean(axis=1)
    consistency = kl(p_bar[:, None, :], a).mean(axis=1)
    entropy = -(p_bar * np.log(p_bar)).sum(axis=1)
    return cross_entropy(a, Y[:, None]).mean(axis=1) + lbd * consistency + eta * entropy


def smoothmix_attack_ref(w, b, delta, alpha, steps, mix_step, maxnorm, maxnorm_s):
    """Jeong et al. (2021), Alg. 1: SmoothMix-PGD; returns (x_init, x_adv)."""

    def project(z: np.ndarray, radius: float | None) -> np.ndarray:
        if radius is not None:
            z = X + into_ball(z - X, radius)
        return np.clip(z, 0, 1)

    z, iterates = X.copy(), [X.copy()]
    for _ in range(steps):
        z = project(z + alpha * unit(smoothed_nll_grad(w, b, z, Y, delta)), maxnorm)
        iterates.append(z)
    x_init = iterates[mix_step] if mix_step < steps else X.copy()
    return project(x_init, maxnorm_s), z


def smoothmix_ref(w, b, delta, x_init, x_adv, lam, eta, w_e) -> np.ndarray:
    """Jeong et al. (2021), Eq. (8): CE on x_init + eta w_e 1[argmax p_bar = y] mean_j KL(y_mix || f(x_mix + d_j))."""
    a = logits(w, b, x_init[:, None, :] + delta)
    p_bar = softmax(a).mean(axis=1)
    x_mix = (1 - lam[:, None]) * x_init + lam[:, None] * x_adv
    y_mix = (1 - lam[:, None]) * p_bar + lam[:, None] / K
    mix = kl(y_mix[:, None, :], logits(w, b, x_mix[:, None, :] + delta)).mean(axis=1)
    correct = p_bar.argmax(axis=1) == Y
    return cross_entropy(a, Y[:, None]).mean(axis=1) + eta * w_e * correct * mix


def catrs_attack_ref(w, b, delta, targets, eps: float, steps: int) -> np.ndarray:
    """Jeong et al. (2023), Sec. 3.2: KL-PGD on the noise, ||d' - d|| <= eps, then per-copy mean and RMS restored."""
    if steps == 0:
        return delta.copy()
    mu0, rms0 = delta.mean(axis=-1, keepdims=True), np.sqrt((delta**2).mean(axis=-1, keepdims=True))
    d = delta.copy()
    for _ in range(steps):
        t = targets[:, None, :]  # d KL(t || softmax(a)) / d a = q sum(t) - t (t in float32 sums to 1 only nearly)
        grad = (softmax(logits(w, b, X[:, None, :] + d)) * t.sum(axis=-1, keepdims=True) - t) @ w
        d = delta + into_ball(d + 2 * eps / steps * unit(grad) - delta, eps)
        mu, rms = d.mean(axis=-1, keepdims=True), np.sqrt((d**2).mean(axis=-1, keepdims=True))
        d = mu0 + (d - mu) / rms * rms0
    return d


def catrs_ref(w, b, delta, attacked, targets, u, lbd: float, confidence_mask: bool) -> np.ndarray:
    """Jeong et al. (2023), Alg. 1: the K ~ Bin(m, w) smallest CEs / m + lbd 1[K = m] max_j KL(p_b || f(x + d'_j))."""
    a = logits(w, b, X[:, None, :] + delta)
    ce = cross_entropy(a, Y[:, None])  # (N, m)
    m = ce.shape[1]
    acc = targets[np.arange(N), Y] if confidence_mask else (a.argmax(axis=2) == Y[:, None]).mean(axis=1)
    accept = np.maximum((u < acc[:, None]).sum(axis=1), 1)
    low = np.array([np.sort(row)[:k].sum() / m for row, k in zip(ce, accept, strict=True)])
    high = kl(targets[:, None, :], logits(w, b, X[:, None, :] + attacked)).max(axis=1)
    return low + lbd * (accept == m) * high


def adaptive_attack_ref(w, b, delta, steps: int, eps: float) -> np.ndarray:
    """Sun et al. (2025), Alg. 1 (ADAPTIVEADV) per copy: first fooling noise, steps kept on ||delta||'s sphere."""
    out = delta.copy()
    for i in range(N):
        for j in range(delta.shape[1]):
            start = delta[i, j]
            current = start.copy()
            for _ in range(steps):
                a = logits(w, b, X[i] + current)
                if a.argmax() != Y[i]:
                    break
                current = current + eps * unit((softmax(a) - onehot(Y[i])) @ w)
                current = current * np.linalg.norm(start) / np.linalg.norm(current)
            out[i, j] = current
    return out


def margin_cs_ref(w, b, delta, variant, lambda1, lambda2, gamma1, gamma2, beta) -> np.ndarray:
    """Xin et al. (2025), Sec. 5: -log(g_y + 1e-10) + (sigma/2)(lambda1 N_i + lambda2 S_i), three sensitive terms."""
    nll = -np.log(smoothed(w, b, X, delta)[np.arange(N), Y] + 1e-10)
    h = smoothed(w, b, X, delta, beta)
    xi, finite = true_margin(h, Y)
    normal = np.zeros(N)
    sensitive = np.zeros(N)
    for i in range(N):
        if finite[i] and 0 < xi[i] < gamma2 and (variant != "seedwise" or not SEEDS[i]):
            normal[i] = gamma2 - xi[i]
        if not SEEDS[i]:
            continue
        if variant == "seedwise":
            if finite[i] and abs(xi[i]) < gamma1:
                sensitive[i] = gamma1 - xi[i]
            continue
        targets = OMEGA[Y[i]]
        if variant == "pairwise":
            worst = max(targets, key=lambda j: h[i, j])
            margin, ok = ppf_margin(h[i].max(), h[i, worst])
            sensitive[i] = gamma1 - margin if ok and abs(margin) < gamma1 else 0.0
        else:
            for j, cost in targets.items():
                margin, ok = ppf_margin(h[i].max(), h[i, j])
                sensitive[i] += cost * (gamma1 - margin) if ok and abs(margin) < gamma1 else 0.0
    return nll + SIGMA / 2 * (lambda1 * normal + lambda2 * sensitive)


def seed_reweighted(losses: np.ndarray, seed_weight: float, sample_weights: np.ndarray | None = None) -> float:
    """Xin et al.'s re-weighting: L(batch) + beta * L(seed examples of the batch)."""
    sub = None if sample_weights is None else sample_weights[SEEDS]
    return mean_of(losses, sample_weights) + seed_weight * mean_of(losses[SEEDS], sub)


# ------------------------------------------------------------------------------------ comparison
def finite_difference(ref: Callable[[np.ndarray, np.ndarray], float], at=(W0, B0), h: float = 1e-6):
    """Central differences of ref(W, b) in every coordinate of W and b."""
    grads = []
    for which in (0, 1):
        base = [at[0].copy(), at[1].copy()]
        grad = np.zeros_like(base[which])
        for idx in np.ndindex(grad.shape):
            up, down = [t.copy() for t in base], [t.copy() for t in base]
            up[which][idx] += h
            down[which][idx] -= h
            grad[idx] = (ref(*up) - ref(*down)) / (2 * h)
        grads.append(grad)
    return grads


def check(value, dw, db, ref: Callable[[np.ndarray, np.ndarray], float], rel: float = 1e-9, at=(W0, B0)) -> None:
    """Library value equals ref(W0, b0); library gradient equals ref's finite-difference gradient."""
    expected = ref(*at)
    assert value == pytest.approx(expected, rel=rel, abs=1e-12)
    fd_w, fd_b = finite_difference(ref, at)
    np.testing.assert_allclose(dw, fd_w, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(db, fd_b, rtol=1e-5, atol=1e-7)
    assert np.abs(dw).sum() > 0


# ----------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("m", [1, 3])
def test_gaussian(m: int) -> None:
    delta = draws(m)
    value, dw, db, result = library("gaussian", {}, (delta,), m=m)
    check(value, dw, db, lambda w, b: mean_of(gaussian_ref(w, b, delta)))
    assert result.logits.shape == (N * m, K) and result.labels.tolist() == np.repeat(Y, m).tolist()


def test_gaussian_with_per_example_weights() -> None:
    delta, sw = draws(), np.array([0.0, 1.0, 3.0, 0.5, 0.0])
    value, dw, db, _ = library("gaussian", {}, (delta,), sample_weights=sw)
    check(value, dw, db, lambda w, b: mean_of(gaussian_ref(w, b, delta), sw))


@pytest.mark.parametrize("variant, weight", [("yang", 6.0), ("li", 2.0), ("yang", 0.7)])
def test_stability(variant: str, weight: float) -> None:
    d1, d2 = draws(1, seed=3)[:, 0], draws(1, seed=4)[:, 0]

    def ref(w, b):
        if variant == "yang":  # Yang et al. (2020), App.: CE(f(x + d1)) + weight KL(p(x + d1) || p(x + d2))
            a1, a2 = logits(w, b, X + d1), logits(w, b, X + d2)
            return mean_of(cross_entropy(a1, Y) + weight * kl(softmax(a1), a2))
        # Li et al. (2019): CE(f(x)) + weight H(p(x), p(x + d)), H the soft cross-entropy -sum p log q
        clean, noisy = logits(w, b, X), logits(w, b, X + d1)
        return mean_of(cross_entropy(clean, Y) - weight * (softmax(clean) * log_softmax(noisy)).sum(axis=1))

    params = (
        {"variant": variant} if weight == {"yang": 6.0, "li": 2.0}[variant] else {"variant": variant, "weight": weight}
    )
    value, dw, db, _ = library("stability", params, (d1, d2) if variant == "yang" else (d1,), m=1)
    check(value, dw, db, ref)


@pytest.mark.parametrize("epoch, factor", [(0, 0.25), (1, 0.5), (2, 0.75), (3, 1.0), (9, 1.0)])
def test_smoothadv_with_its_epsilon_warm_up(epoch: int, factor: float) -> None:
    """eps_e = eps min(1, (e + 1) / warmup) (Salman et al.'s --warmup), here warmup = 4."""
    eps, steps, delta = 0.3, 3, draws()
    value, dw, db, result = library("smoothadv", {"epsilon": eps, "steps": steps, "warmup": 4}, (delta,), epoch=epoch)
    x_adv = smoothadv_attack_ref(W0, B0, delta, eps * factor, steps)
    assert np.linalg.norm(x_adv - X, axis=1).max() == pytest.approx(eps * factor, rel=1e-6)  # the attack moves
    assert result.stats["epsilon"].item() == pytest.approx(eps * factor)
    check(value, dw, db, lambda w, b: mean_of(gaussian_ref(w, b, delta, x_adv)))


def test_smoothadv_attack_clips_to_the_pixel_box() -> None:
    eps, steps, delta = 2.0, 4, draws()
    x_adv = smoothadv_attack_ref(W0, B0, delta, eps, steps)
    assert (x_adv == 0).any() or (x_adv == 1).any()  # the box is active in this case
    value, dw, db, _ = library("smoothadv", {"epsilon": eps, "steps": steps, "warmup": 1}, (delta,))
    check(value, dw, db, lambda w, b: mean_of(gaussian_ref(w, b, delta, x_adv)))


@pytest.mark.parametrize("lbd, gamma, beta", [(12.0, 8.0, 16.0), (3.0, 1.0, 4.0), (0.0, 8.0, 16.0)])
def test_macer(lbd: float, gamma: float, beta: float) -> None:
    delta = draws(4)
    h = smoothed(W0, B0, X, delta, beta)
    xi, finite = true_margin(h, Y)
    active = (h.argmax(axis=1) == Y) & finite & (xi <= gamma)
    if lbd > 0:
        assert 0 < active.sum() < N  # some examples in the hinge window, some not
    value, dw, db, result = library("macer", {"lbd": lbd, "gamma": gamma, "beta": beta}, (delta,), m=4)
    check(value, dw, db, lambda w, b: mean_of(macer_ref(w, b, delta, lbd, gamma, beta)))
    robust = mean_of(np.where(active, SIGMA / 2 * (gamma - xi), 0.0))
    assert result.stats["robustness"].item() == pytest.approx(robust, rel=1e-6)  # stats are float32


def test_macer_defers_its_robustness_term() -> None:
    delta = draws(4)
    params = {"lbd": 12.0, "defer_epochs": 2}
    for epoch, lbd in ((1, 0.0), (2, 12.0)):
        value, dw, db, _ = library("macer", params, (delta,), m=4, epoch=epoch)
        check(value, dw, db, lambda w, b, lbd=lbd: mean_of(macer_ref(w, b, delta, lbd, 8.0, 16.0)))


@pytest.mark.parametrize("lbd, eta", [(10.0, 0.5), (2.0, 0.0), (0.0, 1.5)])
def test_consistency(lbd: float, eta: float) -> None:
    delta = draws()
    value, dw, db, _ = library("consistency", {"lbd": lbd, "eta": eta}, (delta,))
    check(value, dw, db, lambda w, b: mean_of(consistency_ref(w, b, delta, lbd, eta)))


SMOOTHMIX_CASES = [  # (params, epoch)
    ({"alpha": 0.3, "steps": 3, "eta": 2.0, "mix_step": 0, "warmup": 4}, 0),
    ({"alpha": 0.3, "steps": 3, "eta": 2.0, "mix_step": 1, "warmup": 4}, 1),
    ({"alpha": 0.5, "steps": 4, "eta": 5.0, "mix_step": 2, "warmup": 2, "maxnorm": 0.6, "maxnorm_s": 0.2}, 3),
    ({"alpha": 0.3, "steps": 2, "eta": 1.0, "mix_step": 5, "warmup": 10}, 9),
    ({"alpha": 0.3, "steps": 2, "eta": 1.0, "mix_step": 2, "warmup": 10}, 9),  # step T is never the init: x
]


@pytest.mark.parametrize("params, epoch", SMOOTHMIX_CASES)
def test_smoothmix(params: dict, epoch: int) -> None:
    delta, seed = draws(), 11
    p = {"maxnorm": None, "maxnorm_s": None, **params}
    w_e = min(1.0, (epoch + 1) / p["warmup"])
    maxnorm_s = p["alpha"] * p["mix_step"] if p["maxnorm_s"] is None else p["maxnorm_s"]
    x_init, x_adv = smoothmix_attack_ref(
        W0, B0, delta, p["alpha"], p["steps"], p["mix_step"], p["maxnorm"], maxnorm_s * w_e
    )
    lam = uniforms(seed, (N,)) / 2  # lambda ~ U[0, 1/2] per input
    correct = smoothed(W0, B0, x_init, delta).argmax(axis=1) == Y
    assert 0 < correct.sum() < N and np.abs(x_adv - x_init).max() > 0.01
    value, dw, db, result = library("smoothmix", params, (delta,), epoch=epoch, seed=seed)
    check(value, dw, db, lambda w, b: mean_of(smoothmix_ref(w, b, delta, x_init, x_adv, lam, p["eta"], w_e)))
    mix = smoothmix_ref(W0, B0, delta, x_init, x_adv, lam, 1.0, 1.0) - gaussian_ref(W0, B0, delta, x_init)
    assert result.stats["mixup"].item() == pytest.approx(mean_of(mix), rel=1e-6)


def soft_targets(seed: int = 5) -> np.ndarray:
    """(N, K) teacher frequencies rounded to float32 (the loss stores them in float32; sums 1 to float32)."""
    t = softmax(np.random.default_rng(seed).standard_normal((N, K)) + 2.0 * onehot(Y))
    return t.astype(np.float32).astype(np.float64)


CATRS_CASES = [  # (params, m, epoch, seed of the step generator: K = m and K < m both occur)
    ({"lbd": 1.0, "epsilon": 0.5, "steps": 2}, 3, 0, 17),
    ({"lbd": 1.0, "epsilon": 0.5, "steps": 2, "confidence_mask": True}, 3, 0, 12),
    ({"lbd": 2.0, "epsilon": 0.5, "steps": 3, "confidence_mask": True}, 2, 0, 14),
    ({"lbd": 0.5, "epsilon": 0.25, "steps": 1, "double_epsilon_at": 2}, 3, 2, 17),
    ({"lbd": 0.5, "epsilon": 0.25, "steps": 1, "double_epsilon_at": 2}, 3, 1, 17),
]


@pytest.mark.parametrize("params, m, epoch, seed", CATRS_CASES)
def test_catrs(params: dict, m: int, epoch: int, seed: int) -> None:
    delta, targets = draws(m), soft_targets()
    params = {"teacher_samples": 16, **params}
    double = params.get("double_epsilon_at") is not None and epoch >= params["double_epsilon_at"]
    eps = params["epsilon"] * (2.0 if double else 1.0)
    attacked = catrs_attack_ref(W0, B0, delta, targets, eps, params["steps"])
    u = uniforms(seed, (N, m))
    mask = params.get("confidence_mask", False)
    full = catrs_ref(W0, B0, delta, attacked, targets, u, 1.0, mask) - catrs_ref(
        W0, B0, delta, attacked, targets, u, 0.0, mask
    )
    assert 0 < (full != 0).sum() < N  # both K = m and K < m occur
    value, dw, db, result = library("catrs", params, (delta,), m=m, epoch=epoch, seed=seed, targets=targets)
    # the loss keeps p_b in float32 (log p_b in float32 inside the KL): agreement to ~1e-8 only
    ref = lambda w, b: mean_of(catrs_ref(w, b, delta, attacked, targets, u, params["lbd"], mask))  # noqa: E731
    check(value, dw, db, ref, rel=1e-7)
    high = kl(targets[:, None, :], logits(W0, B0, X[:, None, :] + attacked)).max(axis=1)
    assert result.stats["kl"].item() == pytest.approx(mean_of(high), rel=1e-6)


@pytest.mark.parametrize(
    "name, params, epoch",
    [
        ("acr_adaptive_attack", {"switch_epoch": 1, "attack_steps": 3, "attack_epsilon": 0.5}, 1),
        ("acr_adaptive_attack", {"switch_epoch": 1, "attack_steps": 3, "attack_epsilon": 0.5}, 0),
        ("sun2025", {"switch_epoch": 2, "discard": False, "reweight": False, "attack_steps": 2}, 4),
    ],
)
def test_sun2025_step_loss(name: str, params: dict, epoch: int) -> None:
    """Sun et al. (2025), Sec. 5: m-copy Gaussian CE on ADAPTIVEADV noise from the switch epoch on."""
    delta = draws(scale=1.0)
    active = epoch >= params["switch_epoch"]
    attacked = (
        adaptive_attack_ref(W0, B0, delta, params["attack_steps"], params.get("attack_epsilon", 0.25))
        if active
        else delta
    )
    if active:
        moved = np.abs(attacked - delta).max(axis=2) > 0
        assert 0 < moved.sum() < moved.size
    value, dw, db, _ = library(name, params, (delta,), epoch=epoch)
    check(
        value,
        dw,
        db,
        lambda w, b: mean_of(cross_entropy(logits(w, b, X[:, None, :] + attacked), Y[:, None]).mean(axis=1)),
    )


@pytest.mark.parametrize("seed_weight", [0.1, 2.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_gaussian_cs(seed_weight: float, weighted: bool) -> None:
    delta = draws()
    sw = np.array([0.5, 0.0, 2.0, 1.0, 0.25]) if weighted else None  # the seeds' weights sum to 0.75 < 1
    value, dw, db, result = library(
        "gaussian_cs", {"cost": COST, "seed_weight": seed_weight}, (delta,), sample_weights=sw
    )
    check(value, dw, db, lambda w, b: seed_reweighted(gaussian_ref(w, b, delta), seed_weight, sw))
    seed_w = None if sw is None else sw[SEEDS]
    assert result.stats["seed_loss"].item() == pytest.approx(
        mean_of(gaussian_ref(W0, B0, delta)[SEEDS], seed_w), rel=1e-6
    )


def test_smoothadv_cs() -> None:
    eps, steps, delta = 0.3, 2, draws()
    params = {"cost": COST, "seed_weight": 0.7, "epsilon": eps, "steps": steps, "warmup": 2}
    value, dw, db, _ = library("smoothadv_cs", params, (delta,), epoch=0)
    x_adv = smoothadv_attack_ref(W0, B0, delta, eps / 2, steps)
    check(value, dw, db, lambda w, b: seed_reweighted(gaussian_ref(w, b, delta, x_adv), 0.7))


def test_smoothmix_cs() -> None:
    delta, seed = draws(), 17
    params = {"cost": COST, "seed_weight": 0.4, "alpha": 0.3, "steps": 2, "eta": 3.0, "mix_step": 1, "warmup": 2}
    x_init, x_adv = smoothmix_attack_ref(W0, B0, delta, 0.3, 2, 1, None, 0.3 * 1 * 0.5)
    lam = uniforms(seed, (N,)) / 2
    value, dw, db, _ = library("smoothmix_cs", params, (delta,), epoch=0, seed=seed)
    check(value, dw, db, lambda w, b: seed_reweighted(smoothmix_ref(w, b, delta, x_init, x_adv, lam, 3.0, 0.5), 0.4))


@pytest.mark.parametrize("variant", ["seedwise", "pairwise", "cost_weighted"])
@pytest.mark.parametrize("lambda1, lambda2", [(3.0, None), (2.0, 0.5)])
def test_margin_cs(variant: str, lambda1: float, lambda2: float | None) -> None:
    gamma1, gamma2, beta, delta = 2.0, 1.5, 4.0, draws(4)
    params = {"cost": COST, "variant": variant, "lambda1": lambda1, "lambda2": lambda2}
    params |= {"gamma1": gamma1, "gamma2": gamma2, "beta": beta}
    l2 = lambda1 if lambda2 is None else lambda2
    parts = (
        margin_cs_ref(W0, B0, delta, variant, 1.0, 0.0, gamma1, gamma2, beta),
        margin_cs_ref(W0, B0, delta, variant, 0.0, 1.0, gamma1, gamma2, beta),
    )
    nll = margin_cs_ref(W0, B0, delta, variant, 0.0, 0.0, gamma1, gamma2, beta)
    assert (parts[0] != nll).any() and (parts[1] != nll).any()  # both hinges are active somewhere
    value, dw, db, _ = library("margin_cs", params, (delta,), m=4)
    check(value, dw, db, lambda w, b: mean_of(margin_cs_ref(w, b, delta, variant, lambda1, l2, gamma1, gamma2, beta)))


SUN = {"switch_epoch": 60, "discard_threshold": 0.5, "discard_samples": 100, "discard_source": "model"}
SUN |= {"reweight_interval": 10, "reweight_samples": 16, "reweight_min_p": 0.75, "reweight_alpha": 0.1}
SUN |= {"attack_steps": 3, "attack_epsilon": 0.25, "teacher_samples": 50, "teacher_seed": 0, "teacher": None}
SMOOTHADV = {"epsilon": 1.0, "steps": 10, "warmup": 10}
SMOOTHMIX = {"alpha": 1.0, "steps": 8, "eta": 1.0, "mix_step": 0, "warmup": 10, "maxnorm": None, "maxnorm_s": None}
DEFAULTS = {  # the reference trainers' defaults, as documented in each method's docstring
    "gaussian": {},
    "stability": {"weight": 6.0, "variant": "yang"},
    "smoothadv": SMOOTHADV,
    "macer": {"lbd": 12.0, "gamma": 8.0, "beta": 16.0, "defer_epochs": 0},
    "consistency": {"lbd": 10.0, "eta": 0.5},
    "smoothmix": SMOOTHMIX,
    "catrs": {"lbd": 1.0, "epsilon": 1.0, "steps": 4, "confidence_mask": False, "double_epsilon_at": None}
    | {"teacher_samples": 10000, "teacher_seed": 0, "teacher": None},
    "sun2025": SUN | {"discard": True, "reweight": True, "adaptive_attack": True, "replacement": False},
    "acr_discard": {k: SUN[k] for k in ("switch_epoch", "discard_threshold", "discard_samples", "discard_source")}
    | {"teacher_samples": 50, "teacher_seed": 0, "teacher": None},
    "acr_reweight": {k: SUN[k] for k in ("switch_epoch", "reweight_interval", "reweight_samples")}
    | {"reweight_min_p": 0.75, "reweight_alpha": 0.1},
    "acr_adaptive_attack": {"switch_epoch": 60, "attack_steps": 3, "attack_epsilon": 0.25, "replacement": False},
    "gaussian_cs": {"seed_weight": 0.1},
    "smoothadv_cs": {"seed_weight": 0.1} | SMOOTHADV,
    "smoothmix_cs": {"seed_weight": 0.1} | SMOOTHMIX,
    "margin_cs": {"variant": "seedwise", "lambda1": 3.0, "lambda2": None, "gamma1": 16.0, "gamma2": 4.0}
    | {"beta": 16.0},
}


def test_default_hyper_parameters() -> None:
    assert set(DEFAULTS) == set(loss_names())
    for name, expected in DEFAULTS.items():
        params = get_loss(name, **({"cost": COST} if "cs" in name else {})).params()
        params.pop("cost", None)
        assert params == expected, name
    assert get_loss("stability", variant="li").params()["weight"] == 2.0


def test_gaussian_cs_without_weight_on_the_seeds_adds_no_seed_term() -> None:
    """Seeds whose per-example weights are all 0 (e.g. discarded), or seed_weight 0: no seed term, no error."""
    delta, sw = draws(), np.where(SEEDS, 0.0, 1.0)
    value, dw, db, result = library("gaussian_cs", {"cost": COST, "seed_weight": 0.5}, (delta,), sample_weights=sw)
    check(value, dw, db, lambda w, b: mean_of(gaussian_ref(w, b, delta), sw))
    assert result.stats["seed_loss"].item() == 0.0
    value, dw, db, result = library("gaussian_cs", {"cost": COST, "seed_weight": 0.0}, (delta,))  # beta = 0: none
    check(value, dw, db, lambda w, b: mean_of(gaussian_ref(w, b, delta)))
    assert result.stats["seed_loss"].item() == 0.0


@pytest.mark.parametrize(
    "name, key, accepted, refused",
    [
        ("smoothadv", "epsilon", 0.0, -1e-9),
        ("smoothadv", "steps", 0, -1),
        ("smoothadv", "warmup", 1, 0),
        ("macer", "gamma", 1e-9, 0.0),
        ("macer", "beta", 1e-9, 0.0),
        ("catrs", "teacher_samples", 1, 0),
        ("catrs", "steps", 0, -1),
        ("catrs", "epsilon", 0.0, -1e-9),
        ("smoothmix", "steps", 0, -1),
        ("sun2025", "discard_threshold", 1.0, 1.0 + 1e-9),
        ("sun2025", "discard_threshold", 0.0, -1e-9),
        ("sun2025", "reweight_alpha", 0.999, 1.0),
        ("sun2025", "attack_steps", 0, -1),
        ("sun2025", "discard_samples", 1, 0),
        ("sun2025", "reweight_interval", 1, 0),
        ("sun2025", "reweight_min_p", 1.0, 1.0 + 1e-9),
        ("smoothmix", "eta", 0.0, -1e-9),
        ("smoothmix", "maxnorm_s", 0.0, -1e-9),
    ],
)
def test_hyper_parameter_bounds_are_exact(name: str, key: str, accepted, refused) -> None:
    """The documented ranges, boundary included or excluded as documented."""
    assert get_loss(name, **{key: accepted}).params()[key] == accepted
    with pytest.raises(ValueError, match=f"method.params.{key}"):
        get_loss(name, **{key: refused})


def test_reweighting_refuses_a_non_positive_weight_of_never_correct_examples() -> None:
    """An example never classified correctly (count 0) gets the smallest weight, which must be > 0."""
    params = {"reweight_samples": 1, "reweight_alpha": 0.9}  # count 0: bound 0 -> -inf unless p_min lifts it
    with pytest.raises(ValueError, match="method.params.reweight_min_p"):
        get_loss("sun2025", reweight_min_p=0.5, **params)
    assert get_loss("sun2025", reweight_min_p=1.0, **params).params()["reweight_min_p"] == 1.0


def test_context_defaults() -> None:
    """A loss called without the optional context fields sees one copy per input at epoch 0 on the CPU."""
    step = StepContext(noise=None, generator=None)
    assert (step.num_noise, step.epoch, step.step, step.device.type) == (1, 0, 0, "cpu")
    assert step.weights is None and step.example_index is None and step.num_epochs is None
    epoch = EpochContext(noise=None, seed=0, epoch=0, num_epochs=1)
    assert (epoch.num_noise, epoch.batch_size, epoch.device.type) == (1, 256, "cpu")


def test_smoothed_nll_log_guard() -> None:
    """-log(g_y + 1e-10) (Zhai et al.'s reference) where g_y underflows far below 1e-10."""
    w, b, delta = 40.0 * W0, B0, draws(4)
    g_y = smoothed(w, b, X, delta)[np.arange(N), Y]
    assert g_y.min() < 1e-12 < g_y.max()
    value, dw, db, _ = library("macer", {"lbd": 0.0}, (delta,), m=4, w=w, b=b)
    check(value, dw, db, lambda w, b: mean_of(macer_ref(w, b, delta, 0.0, 8.0, 16.0)), at=(w, b))


def test_integer_and_number_ranges_include_their_ends() -> None:
    """[low, high] is closed for integers (e.g. a step count equal to its maximum is accepted)."""
    from randsmooth.losses import params as P

    assert P.integer("m", "k", 5, low=5, high=5) == 5
    for bad in (4, 6, True, 5.0):
        with pytest.raises(ValueError, match="method.params.k"):
            P.integer("m", "k", bad, low=5, high=5)
