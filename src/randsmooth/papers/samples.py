"""Samples used by sequential certification against fixed N (every paper's opt-in artifacts).

A table that lists ``samples`` / ``samples_histogram`` lists sequential runs and their fixed-N
twins (the plan pairs them: :func:`randsmooth.pipeline.sequential.twins`; ``TableData.pairs``).
The twin samples the same noise for the same examples with n = max_n, so both answers are those of
one model on one noise stream: the sequential run's counts at every checkpoint it reached equal the
twin's prefix counts there. Samples are *estimation* samples per test point (the n0 selection
samples are the same for both and not counted); certified accuracy counts abstentions as wrong,
both at the table's alpha and norm (the sequential certificate is the anytime-valid bound at each
example's stop, :func:`randsmooth.decide.certify`).
"""

from __future__ import annotations

import numpy as np

from ..counts import samples_used
from .build import Job, run_styles
from .data import RunInfo
from .figures import Line, Panel
from .tables import Cell, Section

STATISTICS = ("mean", "median", "95th percentile")


def _pairs(job: Job) -> list[tuple[RunInfo, RunInfo]]:
    table = job.table
    if not table.pairs:
        raise ValueError(f"table {table.name!r}: no sequential run paired with a fixed-N twin (tables.json 'pairs')")
    return [(table.run(seq), table.run(fixed)) for seq, fixed in table.pairs]


def _statistics(samples: np.ndarray) -> list[float]:
    return [float(np.mean(samples)), float(np.median(samples)), float(np.percentile(samples, 95))]


def _mode(run: RunInfo) -> str:
    seq = run.sequential or {}
    return f"sequential, {seq.get('mode', '?')} mode, {seq.get('bound', '?')} bound"


def samples(job: Job) -> None:
    """Per pair: samples per test point (mean, median, 95th percentile, mean as a share of N) and
    certified accuracy at the table's radii, sequential and fixed N, and their difference."""
    table, sections = job.table, []
    for seq, fixed in _pairs(job):
        header = ["certification", *(f"samples, {s}" for s in STATISTICS), "share of N"]
        header += [f"r = {r:g}" for r in table.radii]
        rows, curves = [], {}
        for run, how, name in ((seq, "sequential", _mode(seq)), (fixed, "fixed", f"fixed N = {fixed.n:,}")):
            used = samples_used(table.counts(run))
            curves[run.run] = table.certified_accuracy(run, table.radii)
            metrics = [f"samples_{s.split()[0]}" for s in STATISTICS]
            cells = [
                Cell(v, run.cell_keys(m, certification=how), digits=0)
                for v, m in zip(_statistics(used), metrics, strict=True)
            ]
            share = float(np.mean(used)) / fixed.n
            cells.append(Cell(share, run.cell_keys("samples_share", certification=how), digits=3))
            cells += [
                Cell(float(v), run.cell_keys("certified_accuracy", radius=r, certification=how))
                for r, v in zip(table.radii, curves[run.run], strict=True)
            ]
            rows.append((name, cells))
        diff = 100 * (curves[seq.run] - curves[fixed.run])
        cells = [Cell("")] * 4 + [
            Cell(float(d), seq.cell_keys("certified_accuracy_diff_pp", radius=r, certification="difference"))
            for r, d in zip(table.radii, diff, strict=True)
        ]
        rows.append(("difference (percentage points)", cells))
        title = f"{table.labels([fixed])[fixed.run]}: runs {seq.run!r} (sequential) and {fixed.run!r} (fixed N)"
        sections.append(Section(title, header, rows, best=False))
    job.write_table(
        sections,
        notes=[
            "Samples: estimation samples per test point (the n0 selection samples, the same for both, "
            "are not counted); share of N = mean samples / the fixed-N run's N. The sequential "
            "certificate is the anytime-valid lower bound on p_A at each point's stop, at the same α "
            "as fixed-N CERTIFY (README 'Sequential certification')."
        ],
        runs=[run for pair in _pairs(job) for run in pair],
    )


def samples_histogram(job: Job) -> None:
    """Share of test points per bin of samples used (16 log-spaced bins from the first checkpoint to
    N, the last one holding the points run to N), one line per sequential run; the fixed-N twin
    uses N samples for every point."""
    table = job.table
    pairs = _pairs(job)
    runs = [seq for seq, _ in pairs]
    labels, styles, lines = table.labels(runs), run_styles(runs), []
    top = max(fixed.n for _, fixed in pairs)
    first = min(int((seq.sequential or {}).get("first", 1)) for seq in runs)
    edges = np.unique(np.round(np.logspace(np.log10(min(first, top)), np.log10(top), 17)))
    edges[-1] = top + 1  # the last bin holds the points run to N
    for seq, fixed in pairs:
        used = samples_used(table.counts(seq))
        share = np.histogram(used, bins=edges)[0] / max(len(used), 1)
        centres = np.sqrt(edges[:-1] * np.minimum(edges[1:], top))
        lines.append(Line(f"{labels[seq.run]} (fixed N: {fixed.n:,} each)", centres, share, **styles[seq.run]))
    title = f"{table.dataset}, {_mode(runs[0]).split(',')[1].strip()}, α = {table.alpha:g}"
    job.write_figure(
        [Panel(title, "estimation samples used per test point (log bins)", "share of test points", lines, xlog=True)]
    )


BUILDERS = {"samples": samples, "samples_histogram": samples_histogram}
