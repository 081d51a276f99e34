"""Xin et al. (ICML 2025), "Provably Cost-Sensitive Adversarial Defense via Randomized Smoothing".

Per cost scenario (a cost matrix of the table's ``costs``): Rob_cs(eps) = share of the sensitive
seeds' test points whose prediction is not a costly class (an abstention is not: the reference's
convention) with cost-sensitive radius >= eps (Xin et al. 2025, Algorithm 1). Our certificate
splits one alpha: alpha/2 for p_A and alpha/(2|Omega|) per sensitive target; the reference code
used alpha*|Omega|/2 per target and took the max with the standard radius at the full alpha
(valid only with probability 1 - 2 alpha), shown beside ours. Rob_cost is the candidate
definition :func:`randsmooth.metrics.rob_cost_max` (the paper's exact definition was not
verified). Acc and Rob_std (Cohen's certified accuracy) do not depend on the cost matrix and
appear once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import decide, metrics
from ..costs import CostMatrix, from_config
from . import samples
from .build import Job, radius_label, run_styles
from .data import RunInfo, TableData
from .figures import Line, Panel
from .tables import Cell, Section

# keys of a config cost entry that are not part of the matrix (randsmooth.costs.from_config)
READING_KEYS = ("cs_mode", "legacy_alpha", "positive_class")


def cost_matrix(table: TableData, run: RunInfo, cost: dict[str, Any]) -> CostMatrix:
    """The scenario's cost matrix padded to the run's number of classes."""
    cm = from_config({k: v for k, v in cost.items() if k not in READING_KEYS})
    k = int(np.asarray(table.counts(run)["num_classes"])[0])
    return cm.padded(k) if cm.num_classes < k else cm


def cs_decisions(table: TableData, run: RunInfo, cost: dict[str, Any], *, legacy: bool = False) -> pd.DataFrame:
    """Xin et al.'s cost-sensitive CERTIFY of one run under one scenario (abstention allowed)."""
    return decide.cost_sensitive(
        table.counts(run),
        cost_matrix(table, run, cost),
        table.alpha,
        mode=cost.get("cs_mode", "group"),
        legacy_alpha=legacy,
        abstain="code",
    )


def rob_cs(table: TableData, run: RunInfo, cost: dict[str, Any], radii: Any, *, legacy: bool = False) -> np.ndarray:
    return np.atleast_1d(metrics.rob_cs(cs_decisions(table, run, cost, legacy=legacy), radii))


def _costs(table: TableData) -> list[dict[str, Any]]:
    if not table.costs:
        raise ValueError(f"table {table.name!r} lists no cost matrix (costs)")
    return table.costs


def standard(job: Job) -> None:
    """Clean accuracy and Rob_std at the table's radii (one row per run)."""
    t = job.table
    radii = [r for r in t.radii if r > 0]
    labels, rows = t.labels(), []
    for run in t.runs:
        values = t.certified_accuracy(run, [0.0] + radii)
        cells = [Cell(float(values[0]), run.cell_keys("clean_accuracy"))]
        cells += [Cell(float(v), run.cell_keys("rob_std", radius=r)) for r, v in zip(radii, values[1:], strict=True)]
        rows.append((labels[run.run], cells))
    header = ["run", "Acc"] + [f"Rob_std, ε = {r:g}" for r in radii]
    job.write_table([Section("", header, rows)])


def cost_sensitive(job: Job) -> None:
    """Per scenario: clean accuracy beside Rob_cs (ours and the reference's alpha split) and
    Rob_cost at eps (a classifier that rarely predicts a costly class has a high Rob_cs whatever
    its accuracy: the Acc column shows what it costs)."""
    t = job.table
    eps = float(t.options["epsilon"])
    labels, sections = t.labels(), []
    header = [
        "run",
        "Acc",
        f"Rob_cs, ε = {eps:g}",
        f"Rob_cs ref. α split, ε = {eps:g}",
        f"Rob_cost, ε = {eps:g}",
        "seed points",
    ]
    for cost in _costs(t):
        rows = []
        for run in t.runs:
            cm = cost_matrix(t, run, cost)
            ours = cs_decisions(t, run, cost)
            keys = {"scenario": cost["name"], "epsilon": eps}
            cells = [
                Cell(t.clean_accuracy(run), run.cell_keys("clean_accuracy")),
                Cell(float(metrics.rob_cs(ours, eps)), run.cell_keys("rob_cs", **keys)),
                Cell(float(rob_cs(t, run, cost, eps, legacy=True)[0]), run.cell_keys("rob_cs_reference_alpha", **keys)),
                Cell(float(metrics.rob_cost_max(ours, cm, eps)), run.cell_keys("rob_cost", **keys)),
                Cell(int(ours["seed_group"].sum()), run.cell_keys("seed_points", **keys)),
            ]
            rows.append((labels[run.run], cells))
        direction = {header[4]: -1, header[5]: 0}
        sections.append(Section(f"scenario {cost['name']}", header, rows, direction=direction))
    notes = [
        "Acc: certified accuracy at r = 0 of all points (as in the standard table). "
        "Rob_cs: share of the sensitive seeds' points not predicted as a costly class (abstention allowed, "
        "as in the reference) with cost-sensitive radius ≥ ε. Ours: α/2 for p_A and α/(2|Ω|) per target, "
        "jointly valid at 1 - α; ref. α split: the reference code's α·|Ω|/2 per target and the max with "
        "the standard radius at α (valid at 1 - 2α). Rob_cost: mean over all points of the largest cost "
        "of an uncertified sensitive target (a candidate reading; lower is better)."
    ]
    job.write_table(sections, notes)


def rob_cs_curves(job: Job) -> None:
    """Rob_cs against the radius per scenario; degenerate runs (a constant classifier has Rob_cs 1
    by construction) are left out and named in the title (drawn, marked, only if every run is)."""
    t = job.table
    grid = job.radius_grid()
    labels, styles, panels = t.labels(), run_styles(t.runs), []
    degenerate = [run for run in t.runs if t.degenerate(run)]
    runs = [run for run in t.runs if run not in degenerate] or t.runs
    for cost in _costs(t):
        lines = [Line(labels[run.run], grid, rob_cs(t, run, cost, grid), **styles[run.run]) for run in runs]
        panels.append(
            Panel(f"scenario {cost['name']}", radius_label("l2"), "Rob_cs (share of seed points)", lines, ylim=(0, 1))
        )
    title = f"Rob_cs against the radius ({t.dataset}, α = {t.alpha:g})"
    if degenerate and runs is not t.runs:
        title += "; not drawn, degenerate (clean accuracy at chance level): " + ", ".join(r.label for r in degenerate)
    job.write_figure(panels, title)


def precision_recall(job: Job) -> None:
    """Precision and recall of the positive class (HAM10000: malignant = 0) of the smoothed classifier."""
    t = job.table
    positive = int(t.costs[0].get("positive_class", 0)) if t.costs else 0
    labels, rows = t.labels(), []
    for run in t.runs:
        pr = metrics.precision_recall(t.certify(run), positive=positive)
        keys = {"positive_class": positive}
        rows.append(
            (
                labels[run.run],
                [
                    Cell(pr["precision"], run.cell_keys("precision", **keys)),
                    Cell(pr["recall"], run.cell_keys("recall", **keys)),
                ],
            )
        )
    job.write_table(
        [Section(f"positive class {positive}", ["run", "precision", "recall"], rows)],
        ["An abstention counts as a negative prediction (lowers recall, never precision)."],
    )


BUILDERS = {
    **samples.BUILDERS,
    "standard": standard,
    "cost_sensitive": cost_sensitive,
    "rob_cs_curves": rob_cs_curves,
    "precision_recall": precision_recall,
}
