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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from .. import bounds, metrics
from ..counts import common_budgets
from .data import PaperSpec, RunInfo, TableData, group_label, method_label

HOLDS, FAILS, UNMEASURABLE = "holds", "does not hold", "not measurable here"


@dataclass(frozen=True)
class Verdict:
    status: str
    evidence: str


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
    """One row per claim and config table it applies to: id, claim, source, table, status, evidence."""
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
                }
            )
    return pd.DataFrame(rows, columns=["id", "claim", "source", "table", "status", "evidence"])


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
    return Verdict(UNMEASURABLE, f"{reason}; the check found: {verdict.status} ({verdict.evidence})")


def _verdict(ok: bool, evidence: str) -> Verdict:
    return Verdict(HOLDS if ok else FAILS, evidence)


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
    parts, ok, radius_measured = [], True, False
    pairs = list(zip(sorted(by_sigma)[:-1], sorted(by_sigma)[1:], strict=True))
    for small, large in ((by_sigma[a], by_sigma[b]) for a, b in pairs):
        cap_small, cap_large = (float(bounds.max_radius(r.n, alpha, r.sigma)) for r in (small, large))
        beyond = [r for r in table.radii if cap_small < r <= cap_large]
        radii = [0.0] + beyond[:1]
        ca_small, ca_large = (table.certified_accuracy(run, radii) for run in (small, large))
        ok &= bool(ca_large[0] < ca_small[0])
        text = f"σ = {small.sigma:g} -> {large.sigma:g}: clean accuracy {ca_small[0]:.2f} -> {ca_large[0]:.2f}"
        if beyond:
            radius_measured = True
            ok &= bool(ca_large[1] > ca_small[1])
            text += (
                f", certified accuracy at r = {beyond[0]:g} (beyond the cap {cap_small:.2f}) "
                f"{ca_small[1]:.2f} -> {ca_large[1]:.2f}"
            )
        else:
            text += f" (no grid radius in ({cap_small:.2f}, {cap_large:.2f}])"
        parts.append(text)
    if not radius_measured:
        return Verdict(UNMEASURABLE, "; ".join(parts))
    return _verdict(ok, "; ".join(parts))


@check
def predict_abstention_falls(table: TableData, params: dict[str, Any]) -> Verdict:
    """PREDICT's abstention rate never rises with N and is lower at the largest N than the smallest."""
    parts, ok, measured = [], True, False
    for run in _matched(table, params.get("method", "gaussian")):
        counts = table.counts(run)
        budgets = common_budgets(counts)
        if len(budgets) < 2:
            continue
        measured = True
        rates = metrics.predict_metrics(counts, table.alpha, budgets)["abstain_rate"].to_numpy()
        ok &= bool(np.all(np.diff(rates) <= 0) and rates[-1] < rates[0])
        parts.append(
            f"σ = {run.sigma:g}: " + ", ".join(f"{r:.2f} at N = {b:,}" for b, r in zip(budgets, rates, strict=True))
        )
    if not measured:
        return Verdict(UNMEASURABLE, "no matched run has two prefix budgets")
    return _verdict(ok, "; ".join(parts))


# ------------------------------------------------------------------------------ Yang et al.
@check
def envelope_dominates(table: TableData, params: dict[str, Any]) -> Verdict:
    """Group ``better``'s envelope over sigma exceeds group ``worse``'s at every grid radius r > 0
    where either is non-zero (``strict: false``: is at least as high)."""
    from .yang2020 import envelope, groups

    found = groups(table)
    better, worse, strict = params["better"], params["worse"], bool(params.get("strict", True))
    if better not in found or worse not in found:
        return Verdict(UNMEASURABLE, f"needs runs of groups {better!r} and {worse!r}; the table has {sorted(found)}")
    radii = [r for r in table.radii if r > 0]
    a = envelope(table, found[better], radii, table.norm)["certified_accuracy"].to_numpy()
    b = envelope(table, found[worse], radii, table.norm)["certified_accuracy"].to_numpy()
    keep = np.maximum(a, b) > 0
    if not keep.any():
        return Verdict(UNMEASURABLE, "both envelopes are 0 at every radius r > 0 of the grid")
    names = (group_label(*_split(better)), group_label(*_split(worse)))
    cells = ", ".join(f"r = {r:g}: {x:.2f} vs {y:.2f}" for r, x, y, k in zip(radii, a, b, keep, strict=True) if k)
    ok = bool(np.all(a[keep] > b[keep]) if strict else np.all(a[keep] >= b[keep]))
    skipped = int((~keep).sum())
    note = f" ({skipped} radii where both are 0 skipped)" if skipped else ""
    return _verdict(ok, f"{names[0]} vs {names[1]} ({table.norm}): {cells}{note}")


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
    pairs, parts = [], []
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
    if not parts:
        return Verdict(UNMEASURABLE, f"no run of {methods} beside a {baseline} run at the same sigma")
    if not pairs:
        return Verdict(UNMEASURABLE, "no listed method raises ACR here: " + "; ".join(parts))
    return _verdict(all(pairs), "; ".join(parts))


@check
def ranking_changes_with_budget(table: TableData, params: dict[str, Any]) -> Verdict:
    """At some sigma with runs of two or more methods, the ACR ranking differs between budgets
    (measured prefix budgets and the plug-in budgets of ``options/plugin_budgets``)."""
    from .sun2025 import budget_curves

    parts, changed, measured = [], False, False
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
        parts.append(
            f"σ = {sigma:g}: "
            + "; ".join(
                f"N′ = {b:,} ({k}): " + " > ".join(labels[r] for r in order) for (k, b), order in orders.items()
            )
        )
    if not measured:
        return Verdict(UNMEASURABLE, "no sigma has runs of two methods")
    return _verdict(changed, " | ".join(parts))


# ------------------------------------------------------------------------------ Xin et al.
@check
def method_beats_baseline(table: TableData, params: dict[str, Any]) -> Verdict:
    """``method`` has higher Rob_cs at eps than ``baseline`` at the same sigma in every scenario,
    with clean accuracy at most ``accuracy_tolerance`` lower."""
    from .xin2025 import rob_cs

    method, baseline = params["method"], params.get("baseline", "gaussian")
    eps = float(params.get("epsilon", table.options.get("epsilon", 0.5)))
    tolerance = float(params.get("accuracy_tolerance", 0.03))
    results, parts = [], []
    for base in _matched(table, baseline):
        for run in (r for r in table.runs if r.method == method and r.sigma == base.sigma):
            acc_run, acc_base = (table.certified_accuracy(x, [0.0])[0] for x in (run, base))
            for cost in table.costs:
                ours, theirs = (rob_cs(table, x, cost, eps)[0] for x in (run, base))
                results.append(ours > theirs and acc_run >= acc_base - tolerance)
                parts.append(
                    f"{cost['name']}, σ = {run.sigma:g}: Rob_cs {ours:.2f} vs {theirs:.2f}, "
                    f"Acc {acc_run:.2f} vs {acc_base:.2f}"
                )
    if not results:
        return Verdict(UNMEASURABLE, f"needs {method} and {baseline} runs at one sigma and a cost matrix")
    return _verdict(all(results), f"ε = {eps:g}, accuracy tolerance {tolerance:g}: " + "; ".join(parts))


@check
def cs_at_least_standard(table: TableData, params: dict[str, Any]) -> Verdict:
    """Rob_cs of the sensitive seeds is at least their standard certified accuracy at every grid radius."""
    from .xin2025 import cs_decisions

    results, parts = [], []
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
            parts.append(
                f"{cost['name']}, {table.labels()[run.run]}: smallest margin {ours[worst] - standard[worst]:+.3f} "
                f"at r = {table.radii[worst]:g} ({ours[worst]:.2f} vs {standard[worst]:.2f})"
            )
    if not results:
        return Verdict(UNMEASURABLE, "the table has no cost matrix with sensitive seeds among its test points")
    return _verdict(all(results), "; ".join(parts))
