"""Paper figures: panels of lines, written as PDF and PNG (matplotlib, Agg) plus the plotted data.

Readable in greyscale and in print:

* **Fixed styles.** A line's ``key`` (a method, a sigma, a noise family: see
  :func:`randsmooth.papers.build.paper_styles`) picks its colour (seaborn's colour-blind palette plus
  two) and marker; the figure's ``styles`` map keys to style indices once per paper, so a method keeps
  its colour in every figure of the paper. A line's ``variant`` 1 (e.g. the second reading of the
  same run) keeps its key's colour and marker (open) and is dashed; the panel's ``variants`` name
  the two readings in a separate style key, so the legend has one entry per key.
* **At most** :data:`MAX_LINES` **lines per panel.** A panel with more is split into facets
  (:func:`facets`): one per ``family`` of its lines (e.g. adversarial trainers), the ``reference``
  lines (e.g. the Gaussian baseline) drawn in each; a family still too large is cut into chunks,
  the lines of one key kept together.
* **Legends outside the axes**, below each panel, with the figure sized for them (constrained
  layout). :func:`layout_problems` checks the drawn figure with matplotlib's window extents (no
  legend over any axes' data area, axis labels, tick labels or title; every legend inside the
  figure; no panel over :data:`MAX_LINES`) and :meth:`PaperFigure.write` refuses a figure that fails.

Next to ``<stem>.pdf`` and ``<stem>.png``, ``<stem>.data.csv`` holds every plotted point
(``panel, line, variant, x, y``; ``line`` names the reading too where the panel has variants), so
tests and readers check the data, not pixels.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..atomic import atomic_path, atomic_write_text

MAX_LINES = 8  # lines per panel; more are split into facets
PALETTE = (  # seaborn "colorblind" (10 colours), then Paul Tol's wine and indigo
    "#0173b2",
    "#de8f05",
    "#029e73",
    "#d55e00",
    "#cc78bc",
    "#ca9161",
    "#fbafe4",
    "#949494",
    "#ece133",
    "#56b4e9",
    "#882255",
    "#332288",
)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p", "d")
PANEL_SIZE = (5.2, 3.6)  # inches, one panel without its legend
LEGEND_FONT = 7  # points
LEGEND_COLUMNS_UP_TO = 30  # characters: legends whose labels are all this short take two columns
LEGEND_WRAP = 64  # characters: longer legend labels are wrapped onto several lines


@dataclass
class Line:
    """One curve: legend ``label``, points ``x``, ``y``.

    ``key``: what the line stands for (its colour and marker; default: the label); ``variant`` 1
    draws it dashed with open markers (the panel's second reading); ``family``: the facet it goes
    to when its panel has too many lines; ``reference``: drawn in every facet of its panel.
    """

    label: str
    x: Sequence[float]
    y: Sequence[float]
    key: str | None = None
    variant: int = 0
    family: str = ""
    reference: bool = False

    @property
    def style_key(self) -> str:
        return self.label if self.key is None else self.key


@dataclass
class Panel:
    """One axes. ``variants``: the names of the two readings (variant 0, 1) for the style key."""

    title: str
    xlabel: str
    ylabel: str
    lines: list[Line] = field(default_factory=list)
    xlog: bool = False
    ylog: bool = False
    ylim: tuple[float, float] | None = None
    variants: tuple[str, str] | None = None

    def line_name(self, line: Line) -> str:
        """The line's name in the data file: its label, and its reading where the panel has two."""
        return f"{line.label}: {self.variants[min(line.variant, 1)]}" if self.variants else line.label


def facets(panel: Panel, limit: int = MAX_LINES) -> list[Panel]:
    """The panel split into panels of at most ``limit`` lines (see the module docstring); titles
    name the family and, for a family in several chunks, the chunk ("2/3")."""
    if len(panel.lines) <= limit:
        return [panel]
    references = [line for line in panel.lines if line.reference]
    if max(_block_sizes(panel.lines)) + len(references) > limit:
        references = []  # the reference does not fit beside a single key: no reference lines
    others = [line for line in panel.lines if not (references and line.reference)]
    room = limit - len(references)
    families: dict[str, list[list[Line]]] = {}
    for line in others:
        blocks = families.setdefault(line.family, [])
        block = next((b for b in blocks if b[0].style_key == line.style_key), None)
        if block is None:
            blocks.append([line])
        else:
            block.append(line)
    out = []
    for family, blocks in families.items():
        total = sum(len(block) for block in blocks)
        target = math.ceil(total / math.ceil(total / room))  # balanced chunks
        chunks: list[list[Line]] = [[]]
        for block in blocks:
            if chunks[-1] and (len(chunks[-1]) + len(block) > room or len(chunks[-1]) >= target):
                chunks.append([])
            chunks[-1].extend(block)
        for i, chunk in enumerate(chunks):
            title = panel.title + (f" — {family}" if family else "")
            title += f" ({i + 1}/{len(chunks)})" if len(chunks) > 1 else ""
            out.append(replace(panel, title=title, lines=references + chunk))
    return out


def _block_sizes(lines: Sequence[Line]) -> list[int]:
    sizes: dict[str, int] = {}
    for line in lines:
        sizes[line.style_key] = sizes.get(line.style_key, 0) + 1
    return list(sizes.values())


@dataclass
class PaperFigure:
    """A paper artifact of kind "figure": a title, panels (faceted when drawn) and the paper's
    style indices by key (keys not in it take the next free indices in order of appearance)."""

    title: str
    panels: list[Panel]
    styles: Mapping[str, int] = field(default_factory=dict)

    def drawn_panels(self) -> list[Panel]:
        return [facet for panel in self.panels for facet in facets(panel)]

    def style_index(self) -> dict[str, int]:
        index = dict(self.styles)
        for panel in self.panels:
            for line in panel.lines:
                if line.style_key not in index:
                    index[line.style_key] = max(index.values(), default=-1) + 1
        return index

    def data(self) -> pd.DataFrame:
        frames = [
            pd.DataFrame(
                {
                    "panel": panel.title,
                    "line": panel.line_name(line),
                    "variant": line.variant,
                    "x": np.asarray(line.x, dtype=np.float64),
                    "y": np.asarray(line.y, dtype=np.float64),
                }
            )
            for panel in self.drawn_panels()
            for line in panel.lines
        ]
        columns = ["panel", "line", "variant", "x", "y"]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)

    def render(self) -> Any:  # noqa: ANN401 (matplotlib Figure)
        """The matplotlib figure (Agg), drawn: panels in rows of at most three, a legend below each."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        if not any(panel.lines for panel in self.panels):
            raise ValueError(f"figure {self.title!r} has no line to draw")
        panels, styles = self.drawn_panels(), self.style_index()
        ncols = len(panels) if len(panels) <= 3 else math.ceil(len(panels) / math.ceil(len(panels) / 3))
        nrows = math.ceil(len(panels) / ncols)
        legend_height = max(_legend_height(panel) for panel in panels)
        width = PANEL_SIZE[0] * ncols
        height = (PANEL_SIZE[1] + legend_height) * nrows + 0.4
        fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False, layout="constrained")
        for ax, panel in zip(axes.flat, panels, strict=False):
            _draw(ax, panel, styles)
        for ax in list(axes.flat)[len(panels) :]:
            ax.remove()
        fig.suptitle(textwrap.fill(self.title, int(11 * width)), fontsize=10)
        fig.canvas.draw()
        fig.set_layout_engine("none")  # keep the positions just computed: the saves do not lay out again
        return fig

    def write(self, stem: str | Path) -> list[Path]:
        """Write ``<stem>.pdf``, ``<stem>.png`` (150 dpi) and ``<stem>.data.csv``; returns the paths.
        A figure whose layout fails :func:`layout_problems` is an error (nothing written)."""
        import matplotlib.pyplot as plt

        stem = Path(stem)
        fig = self.render()
        problems = layout_problems(fig)
        if problems:
            plt.close(fig)
            raise ValueError(f"figure {self.title!r}: unreadable layout: " + "; ".join(problems))
        stem.parent.mkdir(parents=True, exist_ok=True)
        paths = [stem.with_name(stem.name + s) for s in (".pdf", ".png", ".data.csv")]
        for path, kwargs in ((paths[0], {}), (paths[1], {"dpi": 150})):
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=path.suffix[1:], **kwargs)
        plt.close(fig)
        atomic_write_text(paths[2], self.data().to_csv(index=False))
        return paths


def _entries(panel: Panel) -> list[str]:
    labels = list(dict.fromkeys(line.label for line in panel.lines if line.variant == 0 or not panel.variants))
    return [textwrap.fill(label, LEGEND_WRAP) for label in labels + list(panel.variants or ())]


def _legend_columns(panel: Panel) -> int:
    return 2 if max(len(label) for label in _entries(panel)) <= LEGEND_COLUMNS_UP_TO else 1


def _legend_height(panel: Panel) -> float:
    """Inches below the axes for the legend (rows of 7-point text and the frame)."""
    entries = _entries(panel)
    columns = _legend_columns(panel)
    rows = sum(max(e.count("\n") + 1 for e in entries[i : i + columns]) for i in range(0, len(entries), columns))
    return 0.45 + 0.16 * rows


def _draw(ax, panel: Panel, styles: Mapping[str, int]) -> None:  # noqa: ANN001 (matplotlib Axes)
    from matplotlib.lines import Line2D

    for line in panel.lines:
        i = styles[line.style_key]
        x = np.asarray(line.x, dtype=np.float64)
        ax.plot(
            x,
            np.asarray(line.y, dtype=np.float64),
            label=line.label if line.variant == 0 or not panel.variants else "_nolegend_",
            color=PALETTE[i % len(PALETTE)],
            linestyle=("-", "--")[min(line.variant, 1)],
            marker=MARKERS[i % len(MARKERS)],
            markevery=max(1, len(x) // 8),
            markersize=5,
            fillstyle="none" if line.variant else "full",
            linewidth=1.6,
        )
    ax.set_title(panel.title, fontsize=10)
    ax.set_xlabel(panel.xlabel)
    ax.set_ylabel(panel.ylabel)
    if panel.xlog:
        ax.set_xscale("log")
    if panel.ylog:
        ax.set_yscale("log")
    if panel.ylim is not None:
        ax.set_ylim(*panel.ylim)
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    for name, (linestyle, fill) in zip(panel.variants or (), (("-", "full"), ("--", "none")), strict=False):
        handles.append(Line2D([], [], color="black", linestyle=linestyle, marker="o", fillstyle=fill, markersize=5))
        labels.append(name)
    ax.legend(
        handles,
        [textwrap.fill(label, LEGEND_WRAP) for label in labels],
        fontsize=LEGEND_FONT,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        ncol=_legend_columns(panel),
        frameon=False,
    )


def layout_problems(fig: Any) -> list[str]:  # noqa: ANN401 (matplotlib Figure)
    """Why the drawn figure is hard to read (empty list: readable): a legend overlapping any axes'
    data area, title, axis labels or tick labels, a legend reaching outside the figure, or an axes
    with more than :data:`MAX_LINES` lines. Extents are matplotlib window extents (display pixels)."""
    renderer = fig.canvas.get_renderer()
    problems = []
    areas = []
    for k, ax in enumerate(fig.axes):
        name = f"panel {k + 1} ({ax.get_title()!r})"
        areas.append((f"{name} data area", ax.get_window_extent(renderer)))
        areas += [(f"{name} {axis}-axis", getattr(ax, f"{axis}axis").get_tightbbox(renderer)) for axis in "xy"]
        if ax.get_title():
            areas.append((f"{name} title", ax.title.get_window_extent(renderer)))
        if len(ax.get_lines()) > MAX_LINES:
            problems.append(f"{name} has {len(ax.get_lines())} lines (at most {MAX_LINES})")
    legends = [(k, ax.get_legend()) for k, ax in enumerate(fig.axes) if ax.get_legend() is not None]
    for k, legend in legends:
        box = legend.get_window_extent(renderer)
        for what, area in areas:
            if area is not None and box.overlaps(area):
                problems.append(f"the legend of panel {k + 1} overlaps the {what}")
        if not fig.bbox.contains(box.x0, box.y0) or not fig.bbox.contains(box.x1, box.y1):
            problems.append(f"the legend of panel {k + 1} reaches outside the figure")
    return problems
