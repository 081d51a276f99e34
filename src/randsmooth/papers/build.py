"""Build one artifact of a paper for every config table that lists it.

:func:`build_artifact` reads the paper's ``tables.json`` and published values and calls the
paper module's builder (``BUILDERS[name]`` in :mod:`.cohen2019`, :mod:`.yang2020`,
:mod:`.sun2025`, :mod:`.xin2025`) once per table with a :class:`Job`, which writes into
``<out_dir>/<table>/``.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .catalog import Artifact, get_artifact
from .data import (
    BASELINE_METHOD,
    METHOD_FAMILIES,
    NORM_LABELS,
    PaperSpec,
    RunInfo,
    TableData,
    group_label,
    load_spec,
    noise_label,
)
from .figures import Panel, PaperFigure
from .published import Published, load_published
from .tables import PaperTable, Section, attach_published

CA_LABEL = "certified accuracy (share of test points)"


def radius_label(norm: str) -> str:
    return f"{NORM_LABELS.get(norm, norm)} radius (pixel units, images in [0, 1])"


def method_key(method: str) -> str:
    return f"method:{method}"


def sigma_key(sigma: float) -> str:
    return f"sigma:{sigma:g}"


def noise_key(label: str) -> str:
    """A noise family (with its training method, Yang et al.'s groups) by its legend label."""
    return f"noise:{label}"


def paper_styles(spec: PaperSpec) -> dict[str, int]:
    """Style index (colour and marker, :mod:`.figures`) of every key a figure of the paper may use:
    methods in order of first appearance in the paper's tables, sigmas ascending (training and
    certification), noise families (runs' groups, then ``options/families``) and run names; each
    kind is numbered from 0, so a figure's keys (all of one kind) get distinct styles."""
    runs = [run for table in spec.tables for run in table.runs]
    families = [
        noise_label(f["name"], dict(f.get("params") or {}))
        for table in spec.tables
        for f in table.options.get("families") or []
    ]
    kinds = [
        [method_key(r.method) for r in runs],
        [sigma_key(s) for s in sorted({r.sigma for r in runs} | {r.train_sigma for r in runs})],
        [noise_key(group_label(r.noise, r.method)) for r in runs] + [noise_key(f) for f in families],
        [f"run:{r.run}" for r in runs],
    ]
    styles: dict[str, int] = {}
    for keys in kinds:
        for i, key in enumerate(dict.fromkeys(keys)):
            styles[key] = i
    return styles


def run_styles(runs: Sequence[RunInfo]) -> dict[str, dict[str, object]]:
    """Per run, the :class:`.figures.Line` style fields of its curve: keyed by method where the
    runs' methods differ (Gaussian training the reference of every facet, the others faceted by
    :data:`.data.METHOD_FAMILIES`), else by training sigma, else by run."""
    methods, sigmas = [r.method for r in runs], [r.train_sigma for r in runs]
    out: dict[str, dict[str, object]] = {}
    for run in runs:
        if len(set(methods)) == len(methods):
            out[run.run] = {
                "key": method_key(run.method),
                "family": METHOD_FAMILIES.get(run.method, "other methods"),
                "reference": run.method == BASELINE_METHOD,
            }
        elif len(set(sigmas)) == len(sigmas):
            out[run.run] = {"key": sigma_key(run.train_sigma)}
        else:
            out[run.run] = {"key": f"run:{run.run}"}
    return out


@dataclass
class Job:
    """One artifact for one config table: where to write and what the paper printed."""

    table: TableData
    artifact: Artifact
    published: Published
    folder: Path
    styles: dict[str, int] = field(default_factory=dict)  # the paper's (paper_styles)

    @property
    def stem(self) -> Path:
        return self.folder / self.artifact.name

    def write_table(
        self, sections: list[Section], notes: Sequence[str] = (), runs: Sequence[RunInfo] | None = None
    ) -> PaperTable:
        """Write the artifact's table (CSV, Markdown, LaTeX) with the published values attached;
        ``runs`` are the runs it shows (default: all of the table), for the settings line."""
        table = PaperTable(
            title=f"{self.artifact.title} ({self.table.dataset}, table {self.table.name!r})",
            reference=self.artifact.reference,
            settings=self.table.settings_line(runs),
            sections=sections,
            notes=list(notes),
        )
        attach_published(table, self.published, self.artifact.name, {"dataset": self.table.dataset})
        table.write(self.stem)
        return table

    def write_figure(self, panels: list[Panel], title: str | None = None) -> PaperFigure:
        figure = PaperFigure(title or f"{self.artifact.title} ({self.table.dataset})", panels, self.styles)
        figure.write(self.stem)
        return figure

    def radius_grid(self, top: float | None = None, step: float = 0.01) -> np.ndarray:
        """0, step, ... up to ``top`` (default: the largest radius of the table), at most 501 points."""
        top = max(self.table.radii) if top is None else top
        count = min(501, int(round(top / step)) + 1) if top > 0 else 2
        return np.linspace(0.0, top if top > 0 else 1.0, count)


def build_artifact(
    spec_path: str | Path, name: str, published_path: str | Path | None, out_dir: str | Path
) -> list[str]:
    """Build artifact ``name`` (``<paper>_<artifact>`` or the short name) of the paper in
    ``spec_path`` for every table that lists it; returns the table names built."""
    spec = load_spec(spec_path)
    short = name.removeprefix(f"{spec.paper}_")
    artifact = get_artifact(spec.paper, short)
    builder = importlib.import_module(f"randsmooth.papers.{spec.paper}").BUILDERS[short]
    published = load_published(published_path, spec.paper)
    built, styles = [], paper_styles(spec)
    for table in spec.tables:
        if short in table.artifacts:
            builder(Job(table, artifact, published, Path(out_dir) / table.name, styles))
            built.append(table.name)
    if not built:
        raise ValueError(f"no table of {spec.paper} in {spec_path} lists the artifact {short!r}")
    return built
