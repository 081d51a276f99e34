"""Sequential certification: stop sampling an example once its certificate is decided.

Pure numpy/scipy functions of per-checkpoint estimation counts (no model, no torch). The selection
step is unchanged: c_A comes from the n0 separate selection samples; only the estimation stream of
c_A (k successes in the first n draws, n on a fixed checkpoint schedule ending at ``max_n``) is
looked at sequentially.

Modes (:class:`Rule`):

* ``"grid"``: decide every radius r_1 < ... < r_m of a table's grid. A radius is *certified* once
  the anytime-valid lower bound on p_A reaches its threshold p(r) (the smallest p with
  ``noise.radius(p, norm) >= r``; r = 0 means "not abstaining", p_lower > 1/2), and *unreachable*
  once the anytime upper bound on p_A falls below ``reach(r)``, the smallest proportion k/max_n
  that would certify r at the last checkpoint. The example stops when every radius is decided, or
  at ``max_n``.
* ``"radius"``: the same with one radius.
* ``"fixed"``: Cohen et al.'s CERTIFY at ``max_n`` (one checkpoint, Clopper-Pearson at alpha).

**Guarantee.** The whole estimation budget alpha is spent by the lower confidence sequence: with
probability >= 1 - alpha its running maximum stays below p_A at every checkpoint, whatever the
stopping time, so every certificate the rule returns (radius(p_lower) at the stop) holds jointly
with the selection as in fixed-N CERTIFY. The upper sequence (level ``futility_alpha``) only decides
when to give up on a radius: a wrong futility stop returns a smaller radius (never a larger one),
so it costs accuracy, not soundness. Bounds: ``"cp"`` -- Clopper-Pearson at every checkpoint with
alpha spent by :func:`randsmooth.bounds.spend_alpha` (union bound); ``"mixture"`` -- the
beta-binomial mixture confidence sequence :func:`randsmooth.bounds.betabinomial_cs` (one alpha for
every n, so the schedule can be fine at no cost).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from . import bounds
from .counts.spec import sequential_settings

__all__ = [
    "Decision",
    "RoundsRecord",
    "Rule",
    "decide_prefix",
    "decide_stream",
    "make_rule",
    "p_thresholds",
    "rule_from_settings",
    "run_rounds",
    "simulate",
]

MODES: tuple[str, ...] = ("grid", "radius", "fixed")
BOUNDS: tuple[str, ...] = ("cp", "mixture")


class HasRadius(Protocol):
    def radius(self, p_lower: Any, norm: str) -> np.ndarray: ...


def p_thresholds(noise: HasRadius, radii: Any, norm: str) -> np.ndarray:
    """For each radius r, the smallest float64 p with ``noise.radius(p, norm) >= r`` (r > 0).

    r = 0 gives nextafter(1/2, 1): certified at radius 0 means not abstaining (p_lower > 1/2, the
    rule of :func:`randsmooth.decide.certify`). A radius the family cannot reach even at p = 1 gives
    +inf. Found by bisection on the monotone ``noise.radius`` until the bracket is two adjacent
    floats, and checked: ``noise.radius(threshold) >= r`` holds exactly for every finite result.
    """
    r = np.asarray(radii, dtype=np.float64)
    if r.ndim != 1 or np.isnan(r).any() or (r < 0).any():
        raise ValueError(f"radii must be a 1-d sequence of numbers >= 0, got {radii!r}")
    lo = np.full(r.shape, 0.5)
    hi = np.ones(r.shape)
    reach = noise.radius(hi, norm) >= r
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        ok = noise.radius(mid, norm) >= r
        lo, hi = np.where(ok, lo, mid), np.where(ok, mid, hi)
        if (np.nextafter(lo, 1.0) >= hi).all():
            break
    out = np.where(reach, hi, np.inf)
    out = np.where(r == 0, np.nextafter(0.5, 1.0), out)
    finite = np.isfinite(out) & (r > 0)
    if not (noise.radius(out[finite], norm) >= r[finite]).all():
        raise RuntimeError(f"{noise!r}: threshold bisection is not monotone for radii {r[finite]}")
    return out


@dataclass(frozen=True, eq=False)
class Rule:
    """One sequential decision rule (build it with :func:`make_rule`).

    Attributes: mode, bound ("cp" or "mixture"), checkpoints (int64 sample sizes, last = max_n),
    alpha (estimation budget, one-sided), alpha_spent (per checkpoint, "cp" only; sums to alpha),
    futility_alpha (level of the upper bound at each look: "cp" uses it at every checkpoint without a
    union bound, "mixture" as the sequence's level), thresholds (p(r) per radius, ascending) and reach
    (the proportion needed at max_n to certify each radius, see the module docstring).
    """

    mode: str
    bound: str
    checkpoints: np.ndarray
    alpha: float
    alpha_spent: np.ndarray
    futility_alpha: float
    thresholds: np.ndarray
    reach: np.ndarray

    @property
    def max_n(self) -> int:
        return int(self.checkpoints[-1])

    def stops(self, counts_selection: Any, counts_at_checkpoints: Any) -> bool:
        """Whether an example stops after checkpoint t: ``counts_selection`` (K,) gives c_A (argmax,
        ties -> lowest), ``counts_at_checkpoints`` (t + 1, K) its cumulative estimation counts at the
        first t + 1 checkpoints. The engine calls this after each round (see
        :func:`randsmooth.rounds.run_rounds`)."""
        c_a = int(np.argmax(np.asarray(counts_selection)))
        return decide_prefix(self, np.asarray(counts_at_checkpoints)[:, c_a]) is not None

    def bounds_at(self, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Running max of the lower and running min of the upper bound, shape (..., T), for
        cumulative counts ``k`` of shape (..., T) at the checkpoints."""
        n = self.checkpoints
        if self.bound == "cp":
            lower, _ = bounds.checkpoint_cp(k, n, self.alpha_spent)
            _, upper = bounds.checkpoint_cp(k, n, np.full(n.shape, self.futility_alpha))
        else:
            kb, nb = np.broadcast_arrays(k, n)
            lower, _ = bounds.betabinomial_cs(kb, nb, self.alpha, ends="lower")
            _, upper = bounds.betabinomial_cs(kb, nb, self.futility_alpha, ends="upper")
        return np.maximum.accumulate(lower, axis=-1), np.minimum.accumulate(upper, axis=-1)


def _last_lower(rule_bound: str, k: np.ndarray, n: int, alpha_last: float, alpha: float) -> np.ndarray:
    if rule_bound == "cp":
        return np.asarray(bounds.cp_lower(k, n, alpha_last))
    return np.asarray(bounds.betabinomial_cs(k, n, alpha, ends="lower")[0])


def make_rule(
    mode: str,
    thresholds: Any,
    max_n: int,
    alpha: float,
    *,
    bound: str = "cp",
    first: int = 30,
    ratio: float = 1.15,
    final_share: float = 0.55,
    spend_power: float = 2.0,
    futility_alpha: float = 0.045,
) -> Rule:
    """Build a rule: checkpoints ``geometric_checkpoints(first, max_n, ratio)`` (one checkpoint,
    max_n, in ``"fixed"`` mode, where the bound is Clopper-Pearson at alpha), alpha spent with
    ``final_share`` at max_n and the rest in proportion to t^``spend_power`` over the earlier looks
    (``"cp"``, :func:`randsmooth.bounds.spend_alpha`). ``thresholds`` from :func:`p_thresholds` (one for ``"radius"``;
    ``"fixed"`` uses them only to report which radii are certified).

    The defaults (30, ratio 1.15, 55% of alpha at max_n, the rest growing as t^2, futility level
    0.045 per look) were tuned
    with ``benchmarks/sequential.py`` on Cohen et al.'s released CIFAR-10 p_A distributions; they
    change the samples used and the accuracy against fixed-N CERTIFY, never the guarantee.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if bound not in BOUNDS:
        raise ValueError(f"bound must be one of {BOUNDS}, got {bound!r}")
    a = float(bounds._check_alpha(alpha))
    fa = float(bounds._check_alpha(futility_alpha, "futility_alpha"))
    thr = np.sort(np.asarray(thresholds, dtype=np.float64).reshape(-1))
    if mode == "radius" and thr.size != 1:
        raise ValueError(f"radius mode decides one radius, got {thr.size} thresholds")
    if np.isnan(thr).any() or (thr <= 0.5).any():
        raise ValueError(f"thresholds must be > 1/2 (use p_thresholds), got {thresholds!r}")
    if mode == "fixed":
        cps, bound, spent = np.asarray([max_n], dtype=np.int64), "cp", np.asarray([a])
    else:
        cps = bounds.geometric_checkpoints(first, max_n, ratio)
        spent = (
            bounds.spend_alpha(a, cps.size, final_share, spend_power) if bound == "cp" else np.full(cps.size, np.nan)
        )
    # reach: smallest k/max_n whose lower bound at max_n reaches each threshold (bisection on k)
    lo, hi = np.zeros(thr.shape, dtype=np.int64), np.full(thr.shape, int(max_n))
    ok_hi = _last_lower(bound, hi, max_n, spent[-1], a) >= thr
    for _ in range(64):
        mid = (lo + hi) // 2
        ok = _last_lower(bound, mid, max_n, spent[-1], a) >= thr
        lo, hi = np.where(ok, lo, mid), np.where(ok, mid, hi)
        if (hi - lo <= 1).all():
            break
    reach = np.where(ok_hi, hi / max_n, np.inf)
    return Rule(mode, bound, cps, a, spent, fa, thr, reach)


def rule_from_settings(settings: dict[str, Any], noise: HasRadius) -> Rule:
    """The rule of a sequential run's settings (:func:`randsmooth.counts.spec.sequential_settings`:
    mode, max_n, radii, norm, alpha and the tuning) for ``noise``: the thresholds are
    :func:`p_thresholds` of the radii in the norm."""
    seq = sequential_settings(settings)
    thresholds = p_thresholds(noise, seq["radii"], seq["norm"])
    tuning = {key: seq[key] for key in ("bound", "first", "ratio", "final_share", "spend_power", "futility_alpha")}
    return make_rule(seq["mode"], thresholds, seq["max_n"], seq["alpha"], **tuning)


def certify_counts(
    rule: Rule, counts_selection: np.ndarray, budgets: Any, counts_prefix: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sequential certificates from recorded counts: ``(c_a, p_lower, n_a, samples)`` per example.

    ``counts_selection`` (N, K); per example ``budgets[i]`` the checkpoints it reached (a prefix of
    the rule's) and ``counts_prefix[i]`` (len, K) its cumulative counts there. p_lower is the
    anytime-valid lower bound on p_A at the stop (:func:`decide_stream` on the counts reached); a
    row that does not stop where the rule stops it is refused (ValueError): it is not this
    rule's output.
    """
    sel = np.asarray(counts_selection, dtype=np.int64)
    c_a = np.argmax(sel, axis=1)
    cps = rule.checkpoints
    k = np.zeros((len(sel), cps.size), dtype=np.int64)
    stops = np.zeros(len(sel), dtype=np.int64)
    for i, (b, pre) in enumerate(zip(budgets, counts_prefix, strict=True)):
        b = np.asarray(b, dtype=np.int64).reshape(-1)
        if not 1 <= b.size <= cps.size or not np.array_equal(b, cps[: b.size]):
            raise ValueError(
                f"row {i}: checkpoints reached {b.tolist()[:4]}... are not the rule's {cps.tolist()[:4]}..."
            )
        col = np.asarray(pre, dtype=np.int64).reshape(b.size, -1)[:, c_a[i]]
        k[i] = np.concatenate([col, np.full(cps.size - b.size, col[-1])])
        stops[i] = b.size - 1
    decision = decide_stream(rule, k)
    wrong = np.flatnonzero(decision.stop != stops)
    if wrong.size:
        i = int(wrong[0])
        raise ValueError(
            f"row {i}: sampling stopped at {int(cps[stops[i]])} samples but the rule stops at "
            f"{int(decision.samples[i])} (the table was not sampled under these sequential settings)"
        )
    return c_a, decision.p_lower, decision.k, decision.samples


@dataclass(frozen=True, eq=False)
class Decision:
    """Per-example outcome of a rule (arrays over examples, or 0-d for one stream).

    stop: index of the checkpoint where sampling stopped; samples: estimation samples used;
    p_lower: the certificate's lower bound on p_A (running max at the stop); certified: (..., m)
    bool per threshold (p_lower >= threshold); k: successes at the stop.
    """

    stop: np.ndarray
    samples: np.ndarray
    p_lower: np.ndarray
    certified: np.ndarray
    k: np.ndarray


def decide_stream(rule: Rule, k: Any) -> Decision:
    """Apply ``rule`` to cumulative counts ``k`` of c_A at the rule's checkpoints, shape (..., T).

    The stop is the first checkpoint where every threshold is decided (certified, or its reach is
    above the upper sequence), else the last. Counts after the stop are never used, so giving the
    full stream or only its prefix up to the stop yields the same decision.
    """
    kk = np.asarray(k)
    if kk.shape[-1:] != rule.checkpoints.shape:
        raise ValueError(f"k must have shape (..., {rule.checkpoints.size}), got {kk.shape}")
    lower, upper = rule.bounds_at(kk)
    thr, reach = rule.thresholds, rule.reach
    decided = ((lower[..., None] >= thr) | (upper[..., None] < reach)).all(axis=-1)
    decided[..., -1] = True
    stop = np.argmax(decided, axis=-1)
    p_lower = np.take_along_axis(lower, stop[..., None], axis=-1)[..., 0]
    k_stop = np.take_along_axis(kk, stop[..., None], axis=-1)[..., 0]
    return Decision(stop, rule.checkpoints[stop], p_lower, p_lower[..., None] >= thr, k_stop)


def decide_prefix(rule: Rule, k_prefix: Any) -> Decision | None:
    """The rule's decision if it stops at or before checkpoint t = len(k_prefix) - 1, else None.

    ``k_prefix``: cumulative counts of c_A at the first t + 1 checkpoints (1-d). Decisions up to t
    depend only on the counts up to t, so padding the future with k_t gives exactly
    :func:`decide_stream`'s decision on any continuation of the stream.
    """
    k = np.asarray(k_prefix, dtype=np.int64).reshape(-1)
    t = k.size - 1
    if not 0 <= t < rule.checkpoints.size:
        raise ValueError(f"k_prefix must hold 1 .. {rule.checkpoints.size} checkpoint counts, got {k.size}")
    decision = decide_stream(rule, np.concatenate([k, np.full(rule.checkpoints.size - t - 1, k[-1])]))
    return decision if int(decision.stop) <= t else None


def simulate_counts(p_a: Any, checkpoints: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """Cumulative Bernoulli(p_a) counts at ``checkpoints``: shape (reps, len(p_a), T), int64."""
    p = np.asarray(p_a, dtype=np.float64).reshape(1, -1, 1)
    steps = np.diff(np.concatenate([[0], checkpoints])).reshape(1, 1, -1)
    draws = rng.binomial(np.broadcast_to(steps, (reps, p.shape[1], steps.shape[-1])), p)
    return np.cumsum(draws, axis=-1)


def simulate(rule: Rule, p_a: Any, reps: int, seed: int) -> tuple[Decision, np.ndarray]:
    """Vectorised simulation of ``rule`` on ``reps`` Bernoulli streams per example probability.

    Returns the decisions (arrays of shape (reps, E)) and the counts at max_n of the same streams
    (what fixed-N CERTIFY on these streams would see), so both can be compared stream by stream.
    """
    counts = simulate_counts(p_a, rule.checkpoints, reps, np.random.default_rng(seed))
    return decide_stream(rule, counts), counts[..., -1]


@dataclass(frozen=True, eq=False)
class RoundsRecord:
    """One example sampled in rounds by :func:`run_rounds`.

    counts_selection: (K,) counts of the n0 selection samples; c_a: their argmax (ties -> lowest);
    checkpoints: the sizes reached, (t+1,); counts_at_checkpoints: (t+1, K) cumulative estimation
    counts at each (the fixed-N answer at any of them stays available); samples: estimation
    samples drawn (= checkpoints[-1]); decision: the rule's :class:`Decision` (0-d arrays).
    """

    counts_selection: np.ndarray
    c_a: int
    checkpoints: np.ndarray
    counts_at_checkpoints: np.ndarray
    samples: int
    decision: Decision


def run_rounds(rule: Rule, count_range: Callable[[str, int, int], np.ndarray], n0: int) -> RoundsRecord:
    """Sample one example in rounds until ``rule`` stops it (or max_n): the engine-facing driver.

    ``count_range(stream, start, stop)`` returns the (K,) class counts of samples ``start ..
    stop-1`` of the example's ``"selection"`` or ``"estimation"`` stream. With counter-based noise
    (``philox-v1``: sample j of a stream is a pure function of (seed, example, stream, j)) the
    counts after the round ending at checkpoint n_t equal the fixed-N prefix counts at n_t, so the
    decision equals :func:`decide_stream` on the full stream's checkpoint counts; samples after the
    stop are never drawn. The selection step (n0 samples, c_A = argmax) is as in CERTIFY.
    """
    sel = np.asarray(count_range("selection", 0, n0), dtype=np.int64)
    c_a = int(np.argmax(sel))
    cps = rule.checkpoints
    totals = np.zeros((cps.size, sel.size), dtype=np.int64)
    running = np.zeros(sel.size, dtype=np.int64)
    previous = 0
    for t, n_t in enumerate(cps):
        running = running + np.asarray(count_range("estimation", previous, int(n_t)), dtype=np.int64)
        previous = int(n_t)
        totals[t] = running
        decision = decide_prefix(rule, totals[: t + 1, c_a])
        if decision is not None:
            break
    return RoundsRecord(sel, c_a, cps[: t + 1].copy(), totals[: t + 1].copy(), int(cps[t]), decision)
