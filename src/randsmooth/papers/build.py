"""Build one artifact of a paper for every config table that lists it.

:func:`build_artifact` reads the paper's ``tables.json`` and published values and calls the
paper module's builder (``BUILDERS[name]`` in :mod:`.cohen2019`, :mod:`.yang2020`,
:mod:`.sun2025`, :mod:`.xin2025`) once per table with a :class:`Job`, which writes into
``<out_dir>/<table>/``.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .catalog import Artifact, get_artifact
from .data import NORM_LABELS, RunInfo, TableData, load_spec
from .figures import Panel, PaperFigure
from .published import Published, load_published
from .tables import PaperTable, Section, attach_published

CA_LABEL = "certified accuracy (share of test points)"


def radius_label(norm: str) -> str:
    return f"{NORM_LABELS.get(norm, norm)} radius (pixel units, images in [0, 1])"


@dataclass
class Job:
    """One artifact for one config table: where to write and what the paper printed."""

    table: TableData
    artifact: Artifact
    published: Published
    folder: Path

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
        figure = PaperFigure(title or f"{self.artifact.title} ({self.table.dataset})", panels)
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
    built = []
    for table in spec.tables:
        if short in table.artifacts:
            builder(Job(table, artifact, published, Path(out_dir) / table.name))
            built.append(table.name)
    if not built:
        raise ValueError(f"no table of {spec.paper} in {spec_path} lists the artifact {short!r}")
    return built
