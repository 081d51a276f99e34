"""Cohen, Rosenfeld & Kolter (ICML 2019): certified accuracy by sigma, Table 1, the curves, PREDICT.

Every builder takes a :class:`.build.Job` (one config table) and reads the table's runs; runs
"matched" to their training noise (train sigma = certification sigma) make the sigma tables and
curves, runs certified at ``options/vary_train_noise_sigma`` the vary-train-noise curves.
Certified accuracy counts abstentions as wrong (Cohen et al.'s ``ApproximateAccuracy``).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from .. import bounds, metrics
from ..counts import common_budgets
from . import samples
from .build import CA_LABEL, Job, radius_label, run_styles, sigma_key
from .data import RunInfo, TableData, method_label
from .figures import Line, Panel
from .tables import Cell, Section


def matched_runs(table: TableData) -> list[RunInfo]:
    """Runs certified with their training noise, by method and sigma; an error if there is none."""
    runs = sorted((r for r in table.runs if r.matched), key=lambda r: (r.method, r.sigma))
    if not runs:
        raise ValueError(f"table {table.name!r}: no run is certified with its training noise and sigma")
    return runs


def certified_accuracy(job: Job) -> None:
    """Certified accuracy at the table's radii, one row per method and sigma (appendix tables)."""
    table, runs = job.table, matched_runs(job.table)
    labels = table.labels(runs)
    rows = []
    for run in runs:
        values = table.certified_accuracy(run, table.radii)
        cells = [
            Cell(float(v), run.cell_keys("certified_accuracy", radius=r))
            for r, v in zip(table.radii, values, strict=True)
        ]
        rows.append((labels[run.run], cells))
    job.write_table([Section("", ["run"] + [f"r = {r:g}" for r in table.radii], rows)], runs=runs)


def table1(job: Job) -> None:
    """Per method and radius r > 0: the sigma with the highest certified accuracy, that accuracy
    and the sigma's clean accuracy (certified accuracy at r = 0), as in Cohen et al.'s Table 1."""
    table, runs = job.table, matched_runs(job.table)
    sections, notes = [], ["Ties go to the smaller σ."]
    for method in dict.fromkeys(r.method for r in runs):
        group, left_out = table.best_of([r for r in runs if r.method == method])
        if left_out:
            notes.append(f"Not a candidate for the best σ: {table.degenerate_reason(left_out)}.")
        radii = [r for r in table.radii if r > 0]
        curves = {r.sigma: table.certified_accuracy(r, [0.0] + radii) for r in group}
        rows = []
        for j, radius in enumerate(radii, start=1):
            best = max(group, key=lambda r: (curves[r.sigma][j], -r.sigma))
            keys = {"method": method, "n": best.n, "radius": radius}
            cells = [
                Cell(best.sigma, {**keys, "metric": "sigma"}, digits=2),
                Cell(float(curves[best.sigma][j]), {**keys, "metric": "certified_accuracy"}),
                Cell(float(curves[best.sigma][0]), {**keys, "metric": "clean_accuracy"}),
            ]
            rows.append((f"r = {radius:g}", cells))
        header = ["radius", "best σ", "certified accuracy", "clean accuracy of that σ"]
        sections.append(Section(method_label(method), header, rows, best=False))
    job.write_table(sections, notes, runs)


def _curve_lines(job: Job, runs: list[RunInfo], grid: np.ndarray) -> list[Line]:
    labels, styles = job.table.labels(runs), run_styles(runs)
    return [Line(labels[r.run], grid, job.table.certified_accuracy(r, grid), **styles[r.run]) for r in runs]


def vary_sigma(job: Job) -> None:
    grid = job.radius_grid()
    lines = _curve_lines(job, matched_runs(job.table), grid)
    job.write_figure(
        [Panel(f"{job.table.dataset}, vary σ", radius_label(job.table.norm), CA_LABEL, lines, ylim=(0, 1))]
    )


def vary_train_noise(job: Job) -> None:
    sigma = float(job.table.options["vary_train_noise_sigma"])
    runs = sorted(
        (r for r in job.table.runs if r.sigma == sigma and r.noise == r.train_noise), key=lambda r: r.train_sigma
    )
    if not runs:
        raise ValueError(
            f"table {job.table.name!r}: no run is certified at σ = {sigma:g} (options/vary_train_noise_sigma)"
        )
    lines = _curve_lines(job, runs, job.radius_grid())
    title = f"{job.table.dataset}, vary train noise, σ = {sigma:g}"
    job.write_figure([Panel(title, radius_label(job.table.norm), CA_LABEL, lines, ylim=(0, 1))])


def high_prob(job: Job) -> None:
    """Approximate certified accuracy and Cohen et al.'s high-probability lower bound
    (:func:`randsmooth.metrics.high_prob_accuracy`, holds with probability >= 1 - rho)."""
    table = job.table
    sigma, rho = float(table.options["high_prob_sigma"]), float(table.options["high_prob_rho"])
    runs = [r for r in matched_runs(table) if r.sigma == sigma]
    if not runs:
        raise ValueError(f"table {table.name!r}: no matched run at σ = {sigma:g} (options/high_prob_sigma)")
    grid, labels, styles, lines = job.radius_grid(), table.labels(runs), run_styles(runs), []
    for run in runs:
        approx = table.certified_accuracy(run, grid)
        bound = metrics.high_prob_accuracy(approx, len(table.certify(run)), table.alpha, rho)
        lines.append(Line(labels[run.run], grid, approx, **styles[run.run]))
        lines.append(Line(labels[run.run], grid, bound, variant=1, **styles[run.run]))
    title = f"{table.dataset}, approximate vs. high-probability, α = {table.alpha:g}"
    variants = ("approximate", f"high-probability (ρ = {rho:g})")
    job.write_figure([Panel(title, radius_label(table.norm), CA_LABEL, lines, ylim=(0, 1), variants=variants)])


PREDICT_SHARES = ("correct_accurate", "correct_inaccurate", "incorrect_accurate", "incorrect_inaccurate")


def predict(job: Job) -> None:
    """PREDICT at every prefix budget N of each matched run, against the prediction at the largest
    N (Cohen et al.'s analyze_predict): accuracy, abstention, the four agreement shares (abstentions
    excluded) and the time per test point estimated from the measured certification time per sample."""
    table, sections = job.table, []
    header = [
        "budget",
        "accuracy",
        "abstention",
        "correct, = largest N",
        "correct, ≠ largest N",
        "wrong, = largest N",
        "wrong, ≠ largest N",
        "time per point (s, est.)",
    ]
    for run in matched_runs(table):
        counts = table.counts(run)
        budgets = common_budgets(counts)
        summary = metrics.predict_metrics(counts, table.alpha, budgets).set_index("budget")
        breakdown = metrics.predict_breakdown(counts, table.alpha, budgets).set_index("budget")
        per_sample = float(np.mean(counts["time_s"])) / (run.n0 + run.n)
        rows = []
        for b in budgets:
            keys = {"method": run.method, "sigma": run.sigma, "budget": b}
            values = [summary.at[b, "accuracy"], summary.at[b, "abstain_rate"]]
            values += [breakdown.at[b, name] for name in PREDICT_SHARES]
            names = ("accuracy", "abstain_rate", *PREDICT_SHARES)
            cells = [Cell(float(v), {**keys, "metric": m}) for v, m in zip(values, names, strict=True)]
            cells.append(Cell(per_sample * b, {**keys, "metric": "time_s"}, digits=4))
            rows.append((f"N = {b:,}", cells))
        section = Section(table.labels([run])[run.run], header, rows, best=False)
        sections.append(section)
    job.write_table(
        sections,
        runs=matched_runs(table),
        notes=[
            f"PREDICT at α = {table.alpha:g} (two-sided binomial test) on the first N estimation samples. "
            "Time: measured certification time per sample x N (PREDICT's cost is linear in N)."
        ],
    )


def _sigmas(table: TableData) -> list[float]:
    return sorted({r.sigma for r in table.runs if r.noise == "gaussian"}) or sorted({r.sigma for r in table.runs})


def radius_vs_pa(job: Job) -> None:
    """R = sigma * Phi^-1(p_A) against p_A (Cohen et al.'s Theorem 1 with p_B = 1 - p_A)."""
    p = np.linspace(0.5, 0.9999, 400)
    lines = [Line(f"σ = {s:g}", p, s * norm.ppf(p), key=sigma_key(s)) for s in _sigmas(job.table)]
    panel = Panel(
        "radius of the Gaussian certificate",
        "p_A (lower bound on the top-class probability)",
        radius_label("l2"),
        lines,
    )
    job.write_figure([panel])


def radius_vs_n(job: Job) -> None:
    """The largest radius N samples can certify, sigma * Phi^-1(alpha^(1/N)), against N."""
    table = job.table
    alpha = table.alpha / 2 if table.two_sided else table.alpha
    n = np.unique(np.round(np.logspace(2, 7, 51)))
    lines = [Line(f"σ = {s:g}", n, bounds.max_radius(n, alpha, s), key=sigma_key(s)) for s in _sigmas(table)]
    title = f"largest certifiable radius, α = {table.alpha:g}{' (two-sided)' if table.two_sided else ''}"
    job.write_figure([Panel(title, "number of samples N", radius_label("l2"), lines, xlog=True)])


BUILDERS = {
    **samples.BUILDERS,
    "certified_accuracy": certified_accuracy,
    "table1": table1,
    "vary_sigma": vary_sigma,
    "vary_train_noise": vary_train_noise,
    "high_prob": high_prob,
    "predict": predict,
    "radius_vs_pa": radius_vs_pa,
    "radius_vs_n": radius_vs_n,
}
