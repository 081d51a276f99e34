"""Paper tables: cells with the keys that identify them, written as CSV, GitHub Markdown and LaTeX.

A :class:`PaperTable` has a title, a line of settings that hold for every row, and sections
(one per data set setting, cost scenario, sigma, ...). Each body cell is a :class:`Cell`: a
number or text plus the keys that identify it (method, sigma, radius, metric, ...). The keys let
:func:`attach_published` put the paper's printed value beside ours (and the difference) and
become columns of the long CSV, one row per cell, that the tests and other tools read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..atomic import atomic_write_text
from ..chance import CHANCE_RULE
from ..render import best_in_column, booktabs_table, gfm_table
from .data import DEGENERATE_MARK
from .published import Published, Record

TAG_NOTES = {"paper": "paper", "released": "released", "second-hand": "paper, second-hand"}


@dataclass
class Cell:
    """A body cell: ``value`` (float, int or text), its ``keys``, and the published record if any."""

    value: Any
    keys: dict[str, Any] = field(default_factory=dict)
    digits: int = 2
    published: Record | None = None

    @property
    def number(self) -> float | None:
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            return None
        return float(self.value)

    def text(self) -> str:
        number = self.number
        if number is None:
            return str(self.value)
        if math.isnan(number):
            return ""
        ours = f"{int(self.value):,}" if isinstance(self.value, int) else f"{number:.{self.digits}f}"
        if self.published is None:
            return ours
        diff = number - self.published.value
        return (
            f"{ours} ({TAG_NOTES[self.published.tag]}: {self.published.value:.{self.digits}f}, "
            f"Δ {diff:+.{self.digits}f})"
        )


@dataclass
class Section:
    """One table: header labels (the first names the row labels), rows of a label and cells."""

    title: str
    header: list[str]
    rows: list[tuple[str, list[Cell]]]
    best: bool = True  # bold each numeric column's best value (not when all rows tie)
    notes: list[str] = field(default_factory=list)
    direction: dict[str, int] = field(default_factory=dict)  # header -> +1 higher is better, -1 lower, 0 none

    def degenerate(self) -> list[bool]:
        """Rows of degenerate runs (label ending with :data:`.data.DEGENERATE_MARK`, set by
        :meth:`.data.TableData.labels`)."""
        return [label.endswith(DEGENERATE_MARK) for label, _ in self.rows]

    def bold(self) -> list[list[bool]]:
        """Each numeric column's best value among the rows that are not degenerate (a degenerate row
        is never bold)."""
        width = len(self.header) - 1
        marks = [[False] * width for _ in self.rows]
        keep = [i for i, bad in enumerate(self.degenerate()) if not bad]
        for j in range(width if self.best else 0):
            sign = self.direction.get(self.header[j + 1], 1)
            column = [self.rows[i][1][j].number for i in keep]
            if sign == 0 or any(v is None for v in column):
                continue
            for i, mark in zip(keep, best_in_column([sign * v for v in column]), strict=True):
                marks[i][j] = mark
        return [[False] + m for m in marks]

    def text_rows(self) -> list[list[str]]:
        return [[label] + [c.text() for c in cells] for label, cells in self.rows]


@dataclass
class PaperTable:
    """A paper artifact of kind "table" (see the module docstring)."""

    title: str
    reference: str
    settings: str
    sections: list[Section]
    notes: list[str] = field(default_factory=list)

    def long(self) -> pd.DataFrame:
        """One CSV row per body cell: section, row, column, its keys, value (numbers; ``text`` holds
        a text cell such as a ranking) and the published value."""
        records = []
        for section in self.sections:
            for (label, cells), degenerate in zip(section.rows, section.degenerate(), strict=True):
                for column, cell in zip(section.header[1:], cells, strict=True):
                    pub = cell.published
                    number = cell.number
                    records.append(
                        {
                            "section": section.title,
                            "row": label,
                            "column": column,
                            **cell.keys,
                            "value": number,
                            "text": None if number is not None else str(cell.value),
                            "published": pub.value if pub else None,
                            "difference": (number - pub.value) if pub and number is not None else None,
                            "published_source": pub.source if pub else None,
                            "published_tag": pub.tag if pub else None,
                            "degenerate": degenerate,
                        }
                    )
        return pd.DataFrame(records)

    def all_notes(self) -> list[str]:
        """The notes, and the degenerate-row rule where a row is marked."""
        marked = any(any(section.degenerate()) for section in self.sections)
        return self.notes + ([f"Rows marked {DEGENERATE_MARK.strip()}: {CHANCE_RULE}; never bold."] if marked else [])

    def markdown(self) -> str:
        lines = [f"# {self.title}", "", f"{self.reference}.", "", f"Every row: {self.settings}.", ""]
        for section in self.sections:
            if section.title:
                lines += [f"## {section.title}", ""]
            lines += [gfm_table(section.header, section.text_rows(), section.bold()).rstrip("\n"), ""]
            lines += [f"{note}" for note in section.notes] + ([""] if section.notes else [])
        lines += self.all_notes()
        return "\n".join(lines).rstrip("\n") + "\n"

    def latex(self) -> str:
        parts = [f"% {self.title}. {self.reference}. Every row: {self.settings}."]
        for section in self.sections:
            caption = f"{self.title}: {section.title}" if section.title else self.title
            parts.append(booktabs_table(section.header, section.text_rows(), section.bold(), caption))
        return "\n".join(parts)

    def write(self, stem: str | Path) -> list[Path]:
        """Write ``<stem>.csv``, ``<stem>.md`` and ``<stem>.tex``; returns the paths."""
        stem = Path(stem)
        stem.parent.mkdir(parents=True, exist_ok=True)
        paths = [stem.with_name(stem.name + s) for s in (".csv", ".md", ".tex")]
        atomic_write_text(paths[0], self.long().to_csv(index=False))
        atomic_write_text(paths[1], self.markdown())
        atomic_write_text(paths[2], self.latex())
        return paths


def attach_published(
    table: PaperTable, published: Published, artifact: str, context: Mapping[str, Any]
) -> list[Record]:
    """Set the published record of every cell whose keys (plus ``context``: data set, N, ...)
    match one; return the records used."""
    used = []
    for section in table.sections:
        for _, cells in section.rows:
            for cell in cells:
                record = published.find(artifact, {**context, **cell.keys})
                if record is not None and cell.number is not None:
                    cell.published = record
                    used.append(record)
    if used:
        sources = sorted({f"{r.source} [{r.tag}]" for r in used})
        table.notes.append(
            "Published values beside ours (ours (source: printed, Δ ours - printed)) from: " + "; ".join(sources) + "."
        )
    return used


def numeric_cells(values: Sequence[float], keys: Sequence[dict[str, Any]], digits: int = 2) -> list[Cell]:
    return [Cell(float(v), dict(k), digits) for v, k in zip(values, keys, strict=True)]
