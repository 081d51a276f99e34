"""Yang et al. (ICML 2020), "Randomized Smoothing of All Shapes and Sizes": envelopes and radius curves.

Runs are grouped by noise family and training method (``RunInfo.group``: "uniform",
"laplace", "uniform+stability", ...); a group's envelope is its best certified accuracy over
sigma at each radius (:func:`randsmooth.metrics.envelope`, ties to the smaller sigma). The
analytic figures evaluate :meth:`randsmooth.sampling.Noise.radius` of each family.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import metrics
from ..sampling import get_noise
from . import samples
from .build import CA_LABEL, Job, noise_key, radius_label
from .data import DEGENERATE_MARK, RunInfo, TableData, group_label, noise_label
from .figures import Line, Panel
from .tables import Cell, Section


def groups(table: TableData) -> dict[str, list[RunInfo]]:
    """Runs by envelope group, in the order of their first run in the table."""
    out: dict[str, list[RunInfo]] = {}
    for run in table.runs:
        out.setdefault(run.group, []).append(run)
    return out


def envelope(table: TableData, runs: Sequence[RunInfo], radii: Sequence[float], norm: str) -> pd.DataFrame:
    """Best certified accuracy over the runs' sigmas at each radius: columns radius,
    certified_accuracy, sigma, n (of the run attaining it)."""
    by_sigma = {r.sigma: r for r in sorted(runs, key=lambda r: (r.sigma, -r.n))}
    curves = {
        s: pd.Series(table.certified_accuracy(r, radii, norm=norm), index=list(radii)) for s, r in by_sigma.items()
    }
    env = metrics.envelope(curves)
    env["n"] = [by_sigma[s].n for s in env["sigma"]]
    return env


def table1(job: Job) -> None:
    """Per group, the best certified accuracy over sigma at each radius (Table 1), and that sigma."""
    table = job.table
    rows, sigma_rows, notes = [], [], []
    for group, all_runs in groups(table).items():
        runs, left_out = table.best_of(all_runs)
        if left_out:
            notes.append(f"Left out of the envelope: {table.degenerate_reason(left_out)}.")
        env = envelope(table, runs, table.radii, table.norm)
        name = group_label(runs[0].noise, runs[0].method)
        name += DEGENERATE_MARK if all(table.degenerate(r) for r in runs) else ""
        cells, sigmas = [], []
        for rec in env.to_dict("records"):
            keys = {"group": group, "norm": table.norm, "radius": rec["radius"], "n": rec["n"]}
            cells.append(Cell(float(rec["certified_accuracy"]), {**keys, "metric": "certified_accuracy"}))
            sigmas.append(Cell(float(rec["sigma"]), {**keys, "metric": "sigma"}))
        rows.append((name, cells))
        sigma_rows.append((name, sigmas))
    header = ["noise (+ training)"] + [f"r = {r:g}" for r in table.radii]
    sections = [
        Section("best certified accuracy over σ", header, rows),
        Section("the σ attaining it (ties: the smaller)", header, sigma_rows, best=False),
    ]
    job.write_table(sections, notes)


def _envelope_figure(job: Job, norm: str) -> None:
    table = job.table
    chosen = [table.best_of(runs) for runs in groups(table).values()]  # degenerate sigmas left out
    top = max(float(np.max(table.certify(r, norm=norm)["radius"])) for runs, _ in chosen for r in runs)
    grid = job.radius_grid(top=top * 1.02 if top > 0 else 1.0, step=top / 200 if top > 0 else 0.01)
    lines = []
    for runs, left_out in chosen:
        env = envelope(table, runs, list(grid), norm)
        sigmas = ", ".join(f"{s:g}" for s in sorted({r.sigma for r in runs}))
        name = group_label(runs[0].noise, runs[0].method)
        label = f"{name} (best of σ = {sigmas}"
        label += f"; degenerate σ = {', '.join(f'{r.sigma:g}' for r in left_out)} left out)" if left_out else ")"
        label += DEGENERATE_MARK if all(table.degenerate(r) for r in runs) else ""
        lines.append(Line(label, env["radius"], env["certified_accuracy"], key=noise_key(name)))
    title = f"{table.dataset}, envelope over σ, α = {table.alpha:g}{' two-sided' if table.two_sided else ''}"
    job.write_figure([Panel(title, radius_label(norm), CA_LABEL, lines, ylim=(0, 1))])


def envelope_l1(job: Job) -> None:
    _envelope_figure(job, "l1")


def envelope_l2(job: Job) -> None:
    _envelope_figure(job, "l2")


def envelope_linf(job: Job) -> None:
    _envelope_figure(job, "linf")


def families(table: TableData) -> list[dict[str, Any]]:
    """The families of ``options/families`` plus those of the table's runs (with their parameters)."""
    out = [{"name": f["name"], "params": dict(f.get("params") or {})} for f in table.options["families"]]
    for run in table.runs:
        family = {"name": run.noise, "params": dict(run.noise_params)}
        if family not in out:
            out.append(family)
    return out


def _radius(family: dict[str, Any], sigma: float, dim: int, p: np.ndarray, norm: str) -> np.ndarray | None:
    """The family's radius, or None where it is not defined at this dimension (e.g. j >= d)."""
    try:
        return get_noise(family["name"], sigma, dim, **family["params"]).radius(p, norm)
    except ValueError:
        return None


def radius_vs_p(job: Job) -> None:
    """Radius in the table's norm against the probability lower bound, every family at one sigma and d."""
    table = job.table
    sigma, dim = float(table.options["curve_sigma"]), table.runs[0].dim
    p = np.linspace(0.5, 0.999, 300)
    lines = []
    for family in families(table):
        radius = _radius(family, sigma, dim, p, table.norm)
        if radius is not None:
            name = noise_label(family["name"], family["params"])
            lines.append(Line(name, p, radius, key=noise_key(name)))
    title = f"σ = {sigma:g}, d = {dim:,}"
    job.write_figure([Panel(title, "lower bound on the top-class probability", radius_label(table.norm), lines)])


def linf_vs_dim(job: Job) -> None:
    """The ℓ∞ radius at probability ``curve_p`` and ``curve_sigma`` against the dimension d (log-log)."""
    table = job.table
    sigma, p = float(table.options["curve_sigma"]), float(table.options["curve_p"])
    dims = sorted(int(d) for d in table.options["dims"])
    lines = []
    for family in families(table):
        points = [(d, _radius(family, sigma, d, np.array([p]), "linf")) for d in dims]
        points = [(d, float(r[0])) for d, r in points if r is not None and r[0] > 0]
        if points:
            xs, ys = zip(*points, strict=True)
            name = noise_label(family["name"], family["params"])
            lines.append(Line(name, xs, ys, key=noise_key(name)))
    title = f"σ = {sigma:g}, p = {p:g}"
    job.write_figure([Panel(title, "dimension d = C x H x W", radius_label("linf"), lines, xlog=True, ylog=True)])


BUILDERS = {
    **samples.BUILDERS,
    "table1": table1,
    "envelope_l1": envelope_l1,
    "envelope_l2": envelope_l2,
    "envelope_linf": envelope_linf,
    "radius_vs_p": radius_vs_p,
    "linf_vs_dim": linf_vs_dim,
}
