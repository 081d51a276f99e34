"""Sun et al. (ICML 2025), "Average Certified Radius is a Poor Metric for Randomized Smoothing".

ACR = mean of radius x correct over all test points (wrong and abstained points count 0). The
p_A distribution uses the true-label p_A = count of the true label / N (:func:`randsmooth.decide.p_a_true`).
Figure 9's released files (``data/ecdf``) count a point at x only if it is certified correct and
has p_A >= x, so y(0.5) is the certified accuracy at r = 0; the true-label variant counts every
point with p_A >= x. ACR against the budget: measured on the recorded prefix counts, and beyond by
the paper's extrapolation -- p_hat = n_A / n is taken as the true p_A and re-certified with
floor(p_hat N') hits out of N' (:func:`randsmooth.metrics.acr_budget_curve`, method "plugin").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .. import bounds, metrics
from ..counts import common_budgets
from ..logs import write_ecdf
from . import samples
from .build import Job, radius_label, run_styles, sigma_key
from .data import RunInfo, TableData, method_label
from .figures import Line, Panel
from .tables import Cell, Section


def _acr(table: TableData, run: RunInfo) -> float:
    return metrics.acr(table.certify(run))


def _pa_share(table: TableData, run: RunInfo, threshold: float = 0.5) -> float:
    """Share of test points whose true-label p_A >= threshold (Sun et al.'s distribution metric)."""
    return float(metrics.pa_ccdf(table.counts(run), threshold))


def _ca_acr_rows(table: TableData, runs: Sequence[RunInfo]) -> list[tuple[str, list[Cell]]]:
    labels, rows = table.labels(runs), []
    for run in runs:
        values = table.certified_accuracy(run, table.radii)
        cells = [
            Cell(float(v), run.cell_keys("certified_accuracy", radius=r))
            for r, v in zip(table.radii, values, strict=True)
        ]
        cells.append(Cell(_acr(table, run), run.cell_keys("acr"), digits=3))
        rows.append((labels[run.run], cells))
    return rows


def table(job: Job) -> None:
    """Certified accuracy at the table's radii and ACR, one row per run (method and sigma)."""
    t = job.table
    runs = sorted(t.runs, key=lambda r: (r.sigma, r.method))
    header = ["run"] + [f"r = {r:g}" for r in t.radii] + ["ACR"]
    job.write_table([Section("", header, _ca_acr_rows(t, runs))])


def ablation(job: Job) -> None:
    """The table's runs in the order listed (baseline first): certified accuracy, ACR, the share
    of points with p_A >= 0.5, and the change of ACR and of that share against the first row."""
    t = job.table
    rows = _ca_acr_rows(t, t.runs)
    base_acr, base_share = _acr(t, t.runs[0]), _pa_share(t, t.runs[0])
    for (_, cells), run in zip(rows, t.runs, strict=True):
        share = _pa_share(t, run)
        cells.append(Cell(share, run.cell_keys("pa_share", threshold=0.5)))
        cells.append(Cell(cells[-2].value - base_acr, run.cell_keys("acr_change"), digits=3))
        cells.append(Cell(share - base_share, run.cell_keys("pa_share_change", threshold=0.5)))
    header = ["run"] + [f"r = {r:g}" for r in t.radii] + ["ACR", "p_A ≥ 0.5", "Δ ACR", "Δ p_A ≥ 0.5"]
    section = Section("", header, rows, direction={"Δ ACR": 0, "Δ p_A ≥ 0.5": 0})
    job.write_table([section], [f"Δ: change against the first row ({t.labels()[t.runs[0].run]})."])


def pa_ecdf(job: Job) -> None:
    """Figure 9 on x = 0.5:0.001:1 per run, both readings, and the released-format ECDF files."""
    t = job.table
    labels, styles, lines = t.labels(), run_styles(t.runs), []
    (job.folder / "ecdf").mkdir(parents=True, exist_ok=True)
    for run in t.runs:
        counts = t.counts(run)
        paper = metrics.pa_ccdf_curve(counts, certified_alpha=t.alpha, two_sided=t.two_sided)
        true_label = metrics.pa_ccdf_curve(counts)
        write_ecdf(paper, job.folder / "ecdf" / f"{run.stem}.csv")
        lines.append(Line(labels[run.run], paper["x"], paper["y"], **styles[run.run]))
        lines.append(Line(labels[run.run], true_label["x"], true_label["y"], variant=1, **styles[run.run]))
    variants = ("certified correct, p_A ≥ x", "all points, true-label p_A ≥ x")
    title, ylabel = f"{t.dataset}, α = {t.alpha:g}", "share of test points"
    job.write_figure([Panel(title, "x (threshold on p_A)", ylabel, lines, ylim=(0, 1), variants=variants)])


def pa_histogram(job: Job) -> None:
    t = job.table
    bins = int(t.options["histogram_bins"])
    labels, styles, lines = t.labels(), run_styles(t.runs), []
    for run in t.runs:
        hist = metrics.pa_histogram(t.counts(run), bins=bins)
        lines.append(Line(labels[run.run], (hist["left"] + hist["right"]) / 2, hist["fraction"], **styles[run.run]))
    panel = Panel(f"{t.dataset}, {bins} bins", "true-label p_A (bin centre)", "share of test points", lines)
    job.write_figure([panel])


def radius_cap(job: Job) -> None:
    """R_max(N, alpha) = sigma Phi^-1(alpha^(1/N)) for N = 10^2 ... 10^10, one line per sigma."""
    t = job.table
    alpha = t.alpha / 2 if t.two_sided else t.alpha
    n = np.unique(np.round(np.logspace(2, 10, 81)))
    sigmas = sorted({r.sigma for r in t.runs})
    lines = [Line(f"σ = {s:g}", n, bounds.max_radius(n, alpha, s), key=sigma_key(s)) for s in sigmas]
    title = f"radius cap, α = {t.alpha:g}{' (two-sided)' if t.two_sided else ''}"
    job.write_figure([Panel(title, "number of samples N", radius_label("l2"), lines, xlog=True)])


def budget_curves(t: TableData, run: RunInfo) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ACR per budget: measured on the run's prefix counts, and extrapolated at ``plugin_budgets``."""
    counts = t.counts(run)
    measured = metrics.acr_budget_curve(counts, t.alpha, common_budgets(counts), two_sided=t.two_sided)
    plugin_budgets = [int(b) for b in t.options["plugin_budgets"]]
    plugin = metrics.acr_budget_curve(counts, t.alpha, plugin_budgets, method="plugin", two_sided=t.two_sided)
    return measured, plugin


def _ranking(values: dict[str, float]) -> str:
    order = sorted(values.items(), key=lambda kv: -kv[1])
    text = order[0][0]
    for (_, previous), (name, value) in zip(order, order[1:], strict=False):
        text += (" = " if np.isclose(value, previous, rtol=0, atol=1e-12) else " > ") + name
    return text


def acr_budget(job: Job) -> None:
    """Per sigma: ACR of each run at every budget (measured and extrapolated) and the ranking."""
    t, sections = job.table, []
    for sigma in sorted({r.sigma for r in t.runs}):
        runs = [r for r in t.runs if r.sigma == sigma]
        labels = t.labels(runs)
        unique_methods = len({r.method for r in runs}) == len(runs)
        names = {r.run: method_label(r.method) if unique_methods else labels[r.run] for r in runs}
        curves = {r.run: budget_curves(t, r) for r in runs}
        rows = []
        for estimate, index in (("measured", 0), ("plug-in", 1)):
            budgets = sorted(set.intersection(*(set(curves[r.run][index]["budget"]) for r in runs)))
            for b in budgets:
                values = {r.run: float(curves[r.run][index].set_index("budget").at[b, "acr"]) for r in runs}
                keys = {"sigma": sigma, "budget": b, "estimate": estimate, "metric": "acr"}
                cells = [Cell(values[r.run], {**keys, "method": r.method, "n": r.n}, digits=3) for r in runs]
                ranking = _ranking({names[r.run]: values[r.run] for r in runs})
                cells.append(Cell(ranking, {**keys, "metric": "ranking"}))
                rows.append((f"N′ = {b:,} ({estimate})", cells))
        header = ["budget"] + [labels[r.run] for r in runs] + ["ranking by ACR"]
        sections.append(Section(f"σ = {sigma:g}", header, rows, best=False))
    notes = [
        "measured: CERTIFY on the first N′ estimation samples (the recorded prefix counts); plug-in: "
        "p̂ = n_A / n of all samples taken as the true p_A, re-certified with ⌊p̂ N′⌋ hits out of N′ "
        "(Sun et al.'s extrapolation; no Monte Carlo noise)."
    ]
    job.write_table(sections, notes)


def acr_budget_figure(job: Job) -> None:
    t, panels = job.table, []
    for sigma in sorted({r.sigma for r in t.runs}):
        runs = [r for r in t.runs if r.sigma == sigma]
        labels, styles, lines = t.labels(runs), run_styles(runs), []
        for run in runs:
            measured, plugin = budget_curves(t, run)
            lines.append(Line(labels[run.run], measured["budget"], measured["acr"], **styles[run.run]))
            lines.append(Line(labels[run.run], plugin["budget"], plugin["acr"], variant=1, **styles[run.run]))
        variants = ("measured", "plug-in")
        panel = Panel(f"σ = {sigma:g}", "budget N′ (samples)", "ACR (pixel units)", lines, xlog=True, variants=variants)
        panels.append(panel)
    job.write_figure(panels)


BUILDERS = {
    **samples.BUILDERS,
    "table": table,
    "pa_ecdf": pa_ecdf,
    "pa_histogram": pa_histogram,
    "radius_cap": radius_cap,
    "acr_budget": acr_budget,
    "acr_budget_figure": acr_budget_figure,
    "ablation": ablation,
}
