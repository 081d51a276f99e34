"""Paper figures: panels of lines, written as PDF and PNG (matplotlib, Agg) plus the plotted data.

Readable in greyscale: each line of a panel has its own marker and line style (and a colour from
seaborn's colour-blind palette); a line's ``variant`` 1 (e.g. the second reading of the same run)
keeps the marker (open) and colour of its ``style`` and is dashed. Next to ``<stem>.pdf`` and
``<stem>.png``, ``<stem>.data.csv`` holds every plotted point (``panel, line, variant, x, y``), so
tests and readers check the data, not pixels.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_path, atomic_write_text

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
LINESTYLES = ("-", "--", "-.", ":")


@dataclass
class Line:
    """One curve: legend ``label``, points ``x``, ``y``; ``style`` picks marker and colour (default:
    the line's position), ``variant`` 1 draws it dashed in the same style."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    style: int | None = None
    variant: int = 0


@dataclass
class Panel:
    title: str
    xlabel: str
    ylabel: str
    lines: list[Line] = field(default_factory=list)
    xlog: bool = False
    ylog: bool = False
    ylim: tuple[float, float] | None = None


@dataclass
class PaperFigure:
    """A paper artifact of kind "figure": a title and one or more panels side by side."""

    title: str
    panels: list[Panel]

    def data(self) -> pd.DataFrame:
        frames = [
            pd.DataFrame(
                {
                    "panel": panel.title,
                    "line": line.label,
                    "variant": line.variant,
                    "x": np.asarray(line.x, dtype=np.float64),
                    "y": np.asarray(line.y, dtype=np.float64),
                }
            )
            for panel in self.panels
            for line in panel.lines
        ]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["panel", "line", "x", "y"])

    def write(self, stem: str | Path) -> list[Path]:
        """Write ``<stem>.pdf``, ``<stem>.png`` (150 dpi) and ``<stem>.data.csv``; returns the paths."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import seaborn as sns

        if not any(panel.lines for panel in self.panels):
            raise ValueError(f"figure {self.title!r} has no line to draw")
        stem = Path(stem)
        stem.parent.mkdir(parents=True, exist_ok=True)
        palette = sns.color_palette("colorblind", 10)
        width = 5.2 * len(self.panels)
        fig, axes = plt.subplots(1, len(self.panels), figsize=(width, 4.2), squeeze=False)
        for ax, panel in zip(axes[0], self.panels, strict=True):
            _draw(ax, panel, palette)
        fig.suptitle(textwrap.fill(self.title, int(11 * width)), fontsize=10)
        fig.tight_layout()
        paths = [stem.with_name(stem.name + s) for s in (".pdf", ".png", ".data.csv")]
        for path, kwargs in ((paths[0], {}), (paths[1], {"dpi": 150})):
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=path.suffix[1:], **kwargs)
        plt.close(fig)
        atomic_write_text(paths[2], self.data().to_csv(index=False))
        return paths


def _draw(ax, panel: Panel, palette: Sequence[tuple[float, float, float]]) -> None:  # noqa: ANN001 (matplotlib Axes)
    variants = any(line.variant for line in panel.lines)
    for position, line in enumerate(panel.lines):
        i = position if line.style is None else line.style
        x = np.asarray(line.x, dtype=np.float64)
        linestyle = ("-", "--")[min(line.variant, 1)] if variants else LINESTYLES[i % len(LINESTYLES)]
        ax.plot(
            x,
            np.asarray(line.y, dtype=np.float64),
            label=line.label,
            color=palette[i % len(palette)],
            linestyle=linestyle,
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
    ax.legend(fontsize=7, loc="best")
