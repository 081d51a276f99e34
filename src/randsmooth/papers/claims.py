"""The papers' qualitative claims, checked on a run: holds / does not hold / not measurable here.

Claims are data (``config/claims/<paper>.yaml``): each has an ``id``, the ``claim`` as the paper
states it, its ``source`` in the paper, the ``check`` that evaluates it (a function registered
here with :func:`check`), the check's ``params`` and optionally the ``artifact`` whose tables it
applies to (default: every table of the paper). A check reads one config table and returns a
:class:`Verdict` with the numbers behind it; it never looks at the outcome to choose what to
compare (radii, budgets and methods are fixed by the claim's parameters and the config). A claim
that does not hold is reported as such. A claim whose check reads a degenerate run (clean accuracy
at chance level, :func:`randsmooth.chance.at_chance`) is "not measurable here" whatever the
check found: a constant classifier is "robust" by construction and says nothing about the claim.

When a claim does not hold or is not measurable, its check also returns an ``explanation``: what
this run can measure about why, computed from the same counts -- a difference within one test
point, a radius beyond a sigma's budget cap R_max(N, alpha), the lower bound on p_A a radius
needs, a share already saturated, the cost of an alpha split -- never text chosen per result.
The paper README shows it under each such claim (:mod:`.readme`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy.stats import norm

from .. import bounds, metrics
from ..counts import common_budgets, estimation_counts
from ..sampling import get_noise
from .data import PaperSpec, RunInfo, TableData, group_label, method_label

HOLDS, FAILS, UNMEASURABLE = "holds", "does not hold", "not measurable here"
COLUMNS = ["id", "claim", "source", "table", "status", "evidence", "explanation"]  # of claims.csv


@dataclass(frozen=True)
class Verdict:
    """A claim's status on one table, the numbers behind it and, where it does not hold or is not
    measurable, what the run can measure about why ("" where it holds)."""

    status: str
    evidence: str
    explanation: str = ""


@dataclass(frozen=True)
class Claim:
    id: str
    claim: str
    source: str
    check: str
    params: dict[str, Any] = field(default_factory=dict)
    artifact: str | None = None


Check = Callable[[TableData, dict[str, Any]], Verdict]
CHECKS: dict[str, Check] = {}


def check(func: Check) -> Check:
    """Register a claim check under its function name."""
    CHECKS[func.__name__] = func
    return func


def load_claims(path: str | Path, paper: str) -> list[Claim]:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if raw.get("paper") != paper:
        raise ValueError(f"{path}: holds the claims of {raw.get('paper')!r}, not {paper!r}")
    claims = []
    for i, item in enumerate(raw.get("claims") or []):
        missing = [k for k in ("id", "claim", "source", "check") if k not in item]
        if missing:
            raise ValueError(f"{path}: claims[{i}] misses {missing}")
        if item["check"] not in CHECKS:
            raise ValueError(f"{path}: claims[{i}]: unknown check {item['check']!r}; known: {sorted(CHECKS)}")
        claims.append(Claim(**item))
    return claims


def evaluate(claims: list[Claim], spec: PaperSpec) -> pd.DataFrame:
    """One row per claim and config table it applies to (:data:`COLUMNS`)."""
    rows = []
    for claim in claims:
        tables = [t for t in spec.tables if claim.artifact is None or claim.artifact in t.artifacts]
        for table in tables:
            verdict = run_check(claim, table)
            rows.append(
                {
                    "id": claim.id,
                    "claim": claim.claim,
                    "source": claim.source,
                    "table": table.name,
                    "status": verdict.status,
                    "evidence": verdict.evidence,
                    # not measurable without more to say: what is missing is the evidence itself
                    "explanation": verdict.explanation or (verdict.evidence if verdict.status == UNMEASURABLE else ""),
                }
            )
        if not tables:
            rows.append(
                {
                    "id": claim.id,
                    "claim": claim.claim,
                    "source": claim.source,
                    "table": "",
                    "status": UNMEASURABLE,
                    "evidence": f"no table of this config builds {claim.artifact!r}",
                    "explanation": f"the config has no table listing the artifact {claim.artifact!r}",
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


# checks that read fixed-N counts (p_A estimates, prefix budgets, cost-sensitive certification)
FIXED_N_CHECKS = frozenset(
    {"predict_abstention_falls", "acr_up_pa_not_up", "ranking_changes_with_budget"}
    | {"method_beats_baseline", "cs_at_least_standard"}
)


def run_check(claim: Claim, table: TableData) -> Verdict:
    """The claim's check on one table; "not measurable here" if it read a degenerate run, or if it
    reads fixed-N counts and the table has sequential runs (whose counts stop where their rule
    decided: no p_A estimate, no prefix budgets)."""
    sequential = [r.run for r in table.runs if r.sequential is not None]
    if claim.check in FIXED_N_CHECKS and sequential:
        return Verdict(
            UNMEASURABLE,
            f"the check reads fixed-N counts (p_A estimates or prefix budgets); runs {sequential} are sequential",
        )
    with table.reads() as read:
        verdict = CHECKS[claim.check](table, dict(claim.params))
    degenerate = [r for r in table.runs if r.run in read and table.degenerate(r)]
    if not degenerate:
        return verdict
    reason = table.degenerate_reason(degenerate)
    return Verdict(UNMEASURABLE, f"{reason}; the check found: {verdict.status} ({verdict.evidence})", reason)


def _verdict(ok: bool, evidence: str, explain: Callable[[], list[str]] | None = None) -> Verdict:
    """HOLDS or FAILS; where it fails, ``explain()`` gives the reasons (joined with "; ")."""
    if ok:
        return Verdict(HOLDS, evidence)
    return Verdict(FAILS, evidence, "; ".join(explain()) if explain else "")


def _matched(table: TableData, method: str) -> list[RunInfo]:
    return sorted((r for r in table.runs if r.matched and r.method == method), key=lambda r: r.sigma)


# ------------------------------------------------------------------------------ Cohen et al.
@check
def sigma_tradeoff(table: TableData, params: dict[str, Any]) -> Verdict:
    """For each pair of consecutive sigmas (one method, train sigma = certification sigma): the
    larger sigma has lower clean accuracy, and higher certified accuracy at the first grid radius
    beyond the smaller sigma's budget cap R_max(N, alpha) -- a radius the smaller sigma can never
    certify -- where that radius is within the larger sigma's cap (else that part is not measurable)."""
    runs = [r for r in _matched(table, params.get("method", "gaussian")) if r.noise == "gaussian"]
    by_sigma = {r.sigma: r for r in runs}
    if len(by_sigma) < 2:
        return Verdict(UNMEASURABLE, f"needs runs at two sigmas, got {sorted(by_sigma)}")
    alpha = table.alpha / (2 if table.two_sided else 1)
    parts, reasons, ok, radius_measured = [], [], True, False
    pairs = list(zip(sorted(by_sigma)[:-1], sorted(by_sigma)[1:], strict=True))
    for small, large in ((by_sigma[a], by_sigma[b]) for a, b in pairs):
        cap_small, cap_large = (float(bounds.max_radius(r.n, alpha, r.sigma)) for r in (small, large))
        beyond = [r for r in table.radii if cap_small < r <= cap_large]
        radii = [0.0] + beyond[:1]
        ca_small, ca_large = (table.certified_accuracy(run, radii) for run in (small, large))
        pair = f"σ = {small.sigma:g} -> {large.sigma:g}"
        text = f"{pair}: clean accuracy {ca_small[0]:.2f} -> {ca_large[0]:.2f}"
        if not ca_large[0] < ca_small[0]:
            ok = False
            reasons.append(f"{pair}: clean accuracy does not fall: " + _clean_reason(table, small, large))
        if beyond:
            radius_measured = True
            text += (
                f", certified accuracy at r = {beyond[0]:g} (beyond the cap {cap_small:.2f}) "
                f"{ca_small[1]:.2f} -> {ca_large[1]:.2f}"
            )
            if not ca_large[1] > ca_small[1]:
                ok = False
                reasons.append(f"{pair}: " + _radius_reason(table, large, beyond[0], (small, cap_small), alpha))
        else:
            text += f" (no grid radius in ({cap_small:.2f}, {cap_large:.2f}])"
            reasons.append(
                f"{pair}: no grid radius lies between σ = {small.sigma:g}'s cap {cap_small:.2f} and σ = "
                f"{large.sigma:g}'s cap {cap_large:.2f} (R_max = σ Φ⁻¹(α^(1/N)), N = {large.n:,}, α = {alpha:g})"
            )
        parts.append(text)
    if not radius_measured:
        return Verdict(UNMEASURABLE, "; ".join(parts), "; ".join(reasons))
    return _verdict(ok, "; ".join(parts), lambda: [r for r in reasons if "no grid radius" not in r])


def _clean_reason(table: TableData, small: RunInfo, large: RunInfo) -> str:
    """Why clean accuracy does not fall from ``small`` to ``large``: the errors of each, in test points."""
    points = len(table.certify(small))
    a, b = (table.clean_accuracy(r) for r in (small, large))
    wrong = [int(round((1 - x) * points)) for x in (a, b)]
    return (
        f"{_gap(a, b, points)}; σ = {small.sigma:g} and {large.sigma:g} miss {wrong[0]} and {wrong[1]} of "
        f"{points:,} test points (d = {small.dim:,})"
    )


def _radius_reason(table: TableData, run: RunInfo, radius: float, smaller: tuple[RunInfo, float], alpha: float) -> str:
    """Why ``run`` certifies nothing more than the smaller sigma at ``radius``: the lower bound on
    p_A the radius needs (Gaussian, Cohen et al.'s Theorem 1: r = sigma Phi^-1(p_A)) against the
    highest one among its correct points, and its clean accuracy."""
    small, cap = smaller
    need = float(norm.cdf(radius / run.sigma))
    decisions = table.certify(run)
    right = decisions[decisions["correct"].astype(bool)]
    best = float(right["p_lower"].max()) if len(right) else 0.0
    largest = float(right["radius"].max()) if len(right) else 0.0
    share = float(table.certified_accuracy(run, [radius])[0])
    own_cap = float(bounds.max_radius(run.n, alpha, run.sigma))
    return (
        f"σ = {run.sigma:g} certifies {share:.2f} at r = {radius:g}, the first grid radius beyond σ = "
        f"{small.sigma:g}'s cap {cap:.2f} (N = {small.n:,}, α = {alpha:g}); r = {radius:g} needs a lower bound "
        f"p_A ≥ Φ(r/σ) = {need:.4f}, and the highest among its correct points is {best:.4f} (radius "
        f"{largest:.3f}; clean accuracy {table.clean_accuracy(run):.2f}, cap {own_cap:.2f})"
    )


def _gap(a: float, b: float, points: int) -> str:
    """Two shares of ``points`` test points and how many points apart they are."""
    k = abs(int(round(a * points)) - int(round(b * points)))
    one = f"one point = {1 / points:.3f} of {points:,}"
    if k == 0:
        return f"{a:.2f} vs {b:.2f}, a tie ({one})"
    if k == 1:
        return f"{a:.2f} vs {b:.2f}, within one test point ({one})"
    return f"{a:.2f} vs {b:.2f}, {k} test points apart ({one})"


@check
def predict_abstention_falls(table: TableData, params: dict[str, Any]) -> Verdict:
    """PREDICT's abstention rate never rises with N and is lower at the largest N than the smallest.
    A run that abstains on no point already at its smallest budget cannot show a fall: it is not
    measurable (the claim is measurable if any run is)."""
    parts, reasons, ok, measured, idle = [], [], True, False, []
    for run in _matched(table, params.get("method", "gaussian")):
        counts = table.counts(run)
        budgets = common_budgets(counts)
        if len(budgets) < 2:
            continue
        rates = metrics.predict_metrics(counts, table.alpha, budgets)["abstain_rate"].to_numpy()
        parts.append(
            f"σ = {run.sigma:g}: " + ", ".join(f"{r:.2f} at N = {b:,}" for b, r in zip(budgets, rates, strict=True))
        )
        if not rates.any():
            idle.append(f"σ = {run.sigma:g}: " + _unanimity(table, run, budgets[0]))
            continue
        measured = True
        if not (np.all(np.diff(rates) <= 0) and rates[-1] < rates[0]):
            ok = False
            points = len(counts)
            steps = ", ".join(
                f"N = {b0:,} -> {b1:,}: {_gap(r0, r1, points)}"
                for b0, b1, r0, r1 in zip(budgets, budgets[1:], rates, rates[1:], strict=False)
                if r1 >= r0
            )
            reasons.append(f"σ = {run.sigma:g}: abstention does not fall at {steps}")
    if not parts:
        return Verdict(UNMEASURABLE, "no matched run has two prefix budgets")
    if not measured:
        return Verdict(
            UNMEASURABLE,
            "no run abstains at any budget: " + "; ".join(parts),
            "no abstention to fall: " + "; ".join(idle),
        )
    return _verdict(
        ok, "; ".join(parts), lambda: reasons + ([f"no abstention to fall: {'; '.join(idle)}"] if idle else [])
    )


def _unanimity(table: TableData, run: RunInfo, budget: int) -> str:
    """How unanimous the run's noisy predictions are at ``budget``: PREDICT abstains when the
    two-sided binomial test of the top two counts n1 vs n2 has p-value > alpha (Cohen et al.'s
    PREDICT); the least unanimous point's counts and p-value."""
    counts, _ = estimation_counts(table.counts(run), budget)
    ordered = np.sort(counts, axis=1)
    pvalues = np.asarray(bounds.predict_pvalue(ordered[:, -1], ordered[:, -2]), dtype=np.float64)
    worst = int(np.argmax(pvalues))
    return (
        f"at N = {budget:,} the least unanimous of its {len(counts):,} test points has n1 = {ordered[worst, -1]} vs "
        f"n2 = {ordered[worst, -2]} (two-sided binomial p-value {pvalues[worst]:.2g} ≤ α = {table.alpha:g}: "
        "PREDICT answers)"
    )


# ------------------------------------------------------------------------------ Yang et al.
@check
def envelope_dominates(table: TableData, params: dict[str, Any]) -> Verdict:
    """Group ``better``'s envelope over sigma exceeds group ``worse``'s at every grid radius r > 0
    where either is non-zero (``strict: false``: is at least as high), among the radii both groups'
    sigma grids can reach. A radius beyond a group's largest budget cap (the radius of its largest
    sigma at the largest lower bound N samples give, LCB(N of N)) is not compared: there the sigma
    grid decides, not the noise family (the papers' grids reach every radius of their tables)."""
    from .yang2020 import envelope, groups

    found = groups(table)
    better, worse, strict = params["better"], params["worse"], bool(params.get("strict", True))
    if better not in found or worse not in found:
        return Verdict(UNMEASURABLE, f"needs runs of groups {better!r} and {worse!r}; the table has {sorted(found)}")
    names = {g: group_label(*_split(g)) for g in (better, worse)}
    caps = {g: {r.run: _cap(table, r) for r in found[g]} for g in (better, worse)}
    reach = {g: max(caps[g].values()) for g in caps}
    limit = min(reach.values())
    radii = [r for r in table.radii if 0 < r <= limit]
    short = min(reach, key=lambda g: reach[g])
    top = max(found[short], key=lambda r: caps[short][r.run])
    cut = [r for r in table.radii if r > limit]
    cut_note = (
        f"r = {', '.join(f'{r:g}' for r in cut)} not compared: beyond {names[short]}'s largest cap {limit:.2f} "
        f"(σ = {top.sigma:g}, N = {top.n:,})"
        if cut
        else ""
    )
    if not radii:
        return Verdict(UNMEASURABLE, cut_note, cut_note)
    env = {g: envelope(table, found[g], radii, table.norm) for g in (better, worse)}
    a, b = (env[g]["certified_accuracy"].to_numpy() for g in (better, worse))
    keep = np.maximum(a, b) > 0
    if not keep.any():
        return Verdict(UNMEASURABLE, "both envelopes are 0 at every compared radius r > 0 of the grid", cut_note)
    cells = ", ".join(f"r = {r:g}: {x:.2f} vs {y:.2f}" for r, x, y, k in zip(radii, a, b, keep, strict=True) if k)
    wins = a > b if strict else a >= b
    ok = bool(np.all(wins[keep]))
    skipped = int((~keep).sum())
    notes = [f"{skipped} radii where both are 0 skipped"] * bool(skipped) + [cut_note] * bool(cut_note)
    evidence = f"{names[better]} vs {names[worse]} ({table.norm}): {cells}" + (
        f" ({'; '.join(notes)})" if notes else ""
    )

    def explain() -> list[str]:
        points = len(table.certify(found[better][0]))
        out = []
        for i in np.flatnonzero(keep & ~wins):
            sides = [_envelope_side(table, found[g], names[g], env[g].iloc[i], caps[g]) for g in (better, worse)]
            out.append(f"r = {radii[i]:g}: {' vs '.join(sides)}; {_gap(a[i], b[i], points)}")
        return out

    return _verdict(ok, evidence, explain)


def _cap(table: TableData, run: RunInfo) -> float:
    """The largest radius the run can certify in the table's norm: its noise's radius at the
    lower bound of N hits out of N (one- or two-sided as the table)."""
    p = bounds.cp_lower(run.n, run.n, table.alpha, two_sided=table.two_sided)
    noise = get_noise(run.noise, run.sigma, run.dim, **run.noise_params)
    return float(noise.radius(np.array([p]), table.norm)[0])


def _envelope_side(table: TableData, runs: list[RunInfo], name: str, row: pd.Series, caps: dict[str, float]) -> str:
    """One group's envelope at a radius: the sigma attaining it (if any certifies a point), that
    sigma's clean accuracy, and the group's sigmas whose cap is below the radius."""
    best = next(r for r in runs if r.sigma == float(row["sigma"]))
    below = [r for r in sorted(runs, key=lambda r: r.sigma) if caps[r.run] < float(row["radius"])]
    value = float(row["certified_accuracy"])
    if value > 0:
        text = f"{name} {value:.2f} at σ = {best.sigma:g} (clean accuracy {table.clean_accuracy(best):.2f})"
    else:
        text = f"{name} 0.00 (no σ certifies a point there)"
    if below:
        text += ", its σ = " + ", ".join(f"{r.sigma:g} (cap {caps[r.run]:.2f})" for r in below) + " cannot reach r"
    return text


def _split(group: str) -> tuple[str, str]:
    noise, _, method = group.partition("+")
    return noise, method or "gaussian"


# ------------------------------------------------------------------------------ Sun et al.
@check
def acr_up_pa_not_up(table: TableData, params: dict[str, Any]) -> Verdict:
    """Every listed method whose ACR exceeds the baseline's at the same sigma does not raise the
    share of test points with true-label p_A >= threshold."""
    methods, baseline = params["methods"], params.get("baseline", "gaussian")
    threshold = float(params.get("threshold", 0.5))
    pairs, parts, reasons = [], [], []
    for base in _matched(table, baseline):
        for run in (r for r in table.runs if r.method in methods and r.sigma == base.sigma):
            acr_run, acr_base = (metrics.acr(table.certify(x)) for x in (run, base))
            share_run, share_base = (float(metrics.pa_ccdf(table.counts(x), threshold)) for x in (run, base))
            parts.append(
                f"{method_label(run.method)} σ = {run.sigma:g}: ACR {acr_run:.3f} vs {acr_base:.3f}, "
                f"p_A ≥ {threshold:g} {share_run:.2f} vs {share_base:.2f}"
            )
            if acr_run > acr_base:
                pairs.append(share_run <= share_base)
                if share_run > share_base:
                    points = len(table.counts(base))
                    hard = int(round((1 - share_base) * points))
                    reasons.append(
                        f"{method_label(run.method)} σ = {run.sigma:g} raises ACR and the share of "
                        f"p_A ≥ {threshold:g}: "
                        f"{_gap(share_run, share_base, points)}; {method_label(base.method)} training leaves {hard} of "
                        f"{points:,} test points below p_A = {threshold:g} (the hard points the claim is about)"
                    )
    if not parts:
        return Verdict(UNMEASURABLE, f"no run of {methods} beside a {baseline} run at the same sigma")
    if not pairs:
        return Verdict(UNMEASURABLE, "no listed method raises ACR here: " + "; ".join(parts))
    return _verdict(all(pairs), "; ".join(parts), lambda: reasons)


@check
def ranking_changes_with_budget(table: TableData, params: dict[str, Any]) -> Verdict:
    """At some sigma with runs of two or more methods, the ACR ranking differs between budgets
    (measured prefix budgets and the plug-in budgets of ``options/plugin_budgets``)."""
    from .sun2025 import budget_curves

    parts, reasons, changed, measured = [], [], False, False
    for sigma in sorted({r.sigma for r in table.runs}):
        runs = [r for r in table.runs if r.sigma == sigma]
        if len({r.method for r in runs}) < 2:
            continue
        measured = True
        acr: dict[str, pd.Series] = {}
        for run in runs:
            measured_curve, plugin = budget_curves(table, run)
            both = pd.concat([measured_curve.assign(kind="measured"), plugin.assign(kind="plug-in")])
            acr[run.run] = both.set_index(["kind", "budget"])["acr"]
        frame = pd.DataFrame(acr).dropna()
        orders = {idx: tuple(row.sort_values(ascending=False).index) for idx, row in frame.iterrows()}
        changed |= len(set(orders.values())) > 1
        labels = table.labels(runs)
        gaps = frame.apply(lambda row: np.diff(np.sort(row.to_numpy())).min(), axis=1)
        reasons.append(
            f"σ = {sigma:g}: one ranking at all {len(frame)} budgets; the two closest runs are {gaps.min():.3f} "
            f"ACR apart at best (N′ = {gaps.idxmin()[1]:,}, {gaps.idxmin()[0]}) and {gaps.max():.3f} at most"
        )
        parts.append(
            f"σ = {sigma:g}: "
            + "; ".join(
                f"N′ = {b:,} ({k}): " + " > ".join(labels[r] for r in order) for (k, b), order in orders.items()
            )
        )
    if not measured:
        return Verdict(UNMEASURABLE, "no sigma has runs of two methods")
    return _verdict(changed, " | ".join(parts), lambda: reasons)


# ------------------------------------------------------------------------------ Xin et al.
@check
def method_beats_baseline(table: TableData, params: dict[str, Any]) -> Verdict:
    """``method`` has higher Rob_cs at eps than ``baseline`` at the same sigma in every scenario,
    with clean accuracy at most ``accuracy_tolerance`` lower."""
    from .xin2025 import cs_decisions, rob_cs

    method, baseline = params["method"], params.get("baseline", "gaussian")
    eps = float(params.get("epsilon", table.options.get("epsilon", 0.5)))
    tolerance = float(params.get("accuracy_tolerance", 0.03))
    results, parts, reasons = [], [], []
    for base in _matched(table, baseline):
        for run in (r for r in table.runs if r.method == method and r.sigma == base.sigma):
            acc_run, acc_base = (table.certified_accuracy(x, [0.0])[0] for x in (run, base))
            for cost in table.costs:
                ours, theirs = (rob_cs(table, x, cost, eps)[0] for x in (run, base))
                results.append(ours > theirs and acc_run >= acc_base - tolerance)
                where = f"{cost['name']}, σ = {run.sigma:g}"
                parts.append(f"{where}: Rob_cs {ours:.2f} vs {theirs:.2f}, Acc {acc_run:.2f} vs {acc_base:.2f}")
                if not ours > theirs:
                    seeds = int(cs_decisions(table, base, cost)["seed_group"].sum())
                    missed = int(round((1 - theirs) * seeds))
                    reasons.append(
                        f"{where}: Rob_cs {_gap(ours, theirs, seeds)} (seed points); {method_label(baseline)} leaves "
                        f"{missed} of {seeds} seed points uncertified at ε = {eps:g}"
                    )
                if acc_run < acc_base - tolerance:
                    points = len(table.certify(run))
                    reasons.append(
                        f"{where}: Acc {acc_run:.2f} is {acc_base - acc_run:.2f} below {acc_base:.2f} "
                        f"({int(round((acc_base - acc_run) * points))} of {points:,} test points), beyond the "
                        f"tolerance {tolerance:g}"
                    )
    if not results:
        return Verdict(UNMEASURABLE, f"needs {method} and {baseline} runs at one sigma and a cost matrix")
    evidence = f"ε = {eps:g}, accuracy tolerance {tolerance:g}: " + "; ".join(parts)
    return _verdict(all(results), evidence, lambda: reasons)


@check
def cs_at_least_standard(table: TableData, params: dict[str, Any]) -> Verdict:
    """Rob_cs of the sensitive seeds is at least their standard certified accuracy at every grid
    radius, both certificates at the table's alpha (ours shares one alpha between p_A and the
    sensitive targets; Xin et al.'s r_cs >= r_std holds for the exact probabilities)."""
    from .xin2025 import cs_decisions

    results, parts, reasons = [], [], []
    for run in table.runs:
        for cost in table.costs:
            cs = cs_decisions(table, run, cost)
            seeds = cs["seed_group"].to_numpy(dtype=bool)
            if not seeds.any():
                continue
            ours = np.atleast_1d(metrics.rob_cs(cs, table.radii))
            standard = np.atleast_1d(metrics.certified_accuracy(table.certify(run)[seeds], table.radii))
            results.append(bool(np.all(ours >= standard)))
            worst = int(np.argmin(ours - standard))
            where = f"{cost['name']}, {table.labels()[run.run]}"
            parts.append(
                f"{where}: smallest margin {ours[worst] - standard[worst]:+.3f} "
                f"at r = {table.radii[worst]:g} ({ours[worst]:.2f} vs {standard[worst]:.2f})"
            )
            if ours[worst] < standard[worst]:
                reasons.append(f"{where}: " + _split_reason(table, run, cost, cs, table.radii[worst]))
    if not results:
        return Verdict(UNMEASURABLE, "the table has no cost matrix with sensitive seeds among its test points")
    return _verdict(all(results), "; ".join(parts), lambda: reasons)


def _split_reason(table: TableData, run: RunInfo, cost: dict[str, Any], cs: pd.DataFrame, eps: float) -> str:
    """Why Rob_cs falls below the standard certified accuracy at ``eps``: the seed points the
    standard certificate certifies and ours does not, and the price of sharing alpha (alpha/2 for
    p_A, alpha/(2|Omega|) per target) at n_A = N, against the reference code's accounting."""
    from .xin2025 import cost_matrix, rob_cs

    std = table.certify(run).set_index("idx")
    seeds = cs[cs["seed_group"].to_numpy(dtype=bool)].set_index("idx")
    std = std.loc[seeds.index]
    lost = seeds[
        (std["correct"].astype(bool) & (std["radius"] >= eps)) & ~(seeds["correct"].astype(bool) & (seeds["r"] >= eps))
    ]
    shown = ", ".join(
        f"n_A/N = {row.n_a / run.n:.3f}: standard radius {std.at[idx, 'radius']:.3f}, cost-sensitive {row.r:.3f}"
        for idx, row in lost.head(3).iterrows()
    )
    cm = cost_matrix(table, run, cost)
    seed = int(seeds["label"].iloc[0])
    targets = cm.sensitive_targets(seed)
    full = np.zeros(cm.num_classes, dtype=np.int64)
    full[seed] = run.n
    at_cap = bounds.cost_sensitive_radius(full, seed, targets, table.alpha, run.sigma)
    reference = float(rob_cs(table, run, cost, eps, legacy=True)[0])
    standard = float(metrics.certified_accuracy(std.reset_index(), eps))
    return (
        f"at r = {eps:g} the standard certificate certifies {len(lost)} of the {len(seeds)} seed points (one = "
        f"{1 / len(seeds):.3f}) that the cost-sensitive one does not ({shown}). At one total α = {table.alpha:g} the "
        f"cost-sensitive certificate spends α/2 on p_A and α/(2|Ω|) on each of the |Ω| = {len(targets)} targets: at "
        f"n_A = N = {run.n:,} it reaches {float(at_cap.r):.3f} where the standard one reaches "
        f"{float(at_cap.r_std):.3f} (σ = {run.sigma:g}), the union bound's price, paid where p_A is near 1. Under "
        f"the reference code's accounting (the max with the standard radius at the full α, valid at 1 - 2α) "
        f"Rob_cs is {reference:.2f} against {standard:.2f}"
    )
