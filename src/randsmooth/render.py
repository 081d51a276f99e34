"""Text renderings of result tables.

* Cohen et al.'s ``analyze.py`` formats, byte for byte (:func:`to_latex_cohen`,
  :func:`to_markdown`): the input is a certified-accuracy table (rows = legends, columns = radii)
  such as :func:`randsmooth.metrics.certified_accuracy_table`. Their Markdown is *not* a valid
  GitHub table (body rows start with ``<b> legend </b>|``); it exists to compare with the released
  files.
* Valid tables for reports: :func:`gfm_table` (GitHub-flavoured Markdown) and
  :func:`booktabs_table` (LaTeX ``tabular`` with booktabs rules, ready to paste), from header
  and body cells given as text, with :func:`best_in_column` to mark column maxima.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .atomic import atomic_write_text


def _best_rows(values: np.ndarray) -> np.ndarray:
    """Per column, the index of the first row holding the maximum (Cohen's argmax)."""
    return np.argmax(values, axis=0)


def _check_table(df: pd.DataFrame) -> tuple[list[str], list[float], np.ndarray]:
    if not isinstance(df, pd.DataFrame) or df.empty:
        raise ValueError("expected a non-empty certified-accuracy table (legends x radii)")
    values = df.to_numpy(dtype=np.float64)
    return [str(i) for i in df.index], [float(c) for c in df.columns], values


def latex_cohen_string(df: pd.DataFrame) -> str:
    """Cohen et al.'s ``analyze.py`` LaTeX table body (see :func:`to_latex_cohen`)."""
    legends, radii, values = _check_table(df)
    best = _best_rows(values)
    out = ["".join("& $r = {:.3}$".format(r) for r in radii), "\\\\\n", "\\midrule\n"]
    for i, legend in enumerate(legends):
        out.append(legend)
        for j in range(len(radii)):
            cell = "{:.2f}".format(values[i, j])
            out.append(" & \\textbf{" + cell + "}" if best[j] == i else " & " + cell)
        out.append("\\\\\n")
    return "".join(out)


def markdown_cohen_string(df: pd.DataFrame) -> str:
    """Cohen et al.'s ``analyze.py`` Markdown table (see :func:`to_markdown`)."""
    legends, radii, values = _check_table(df)
    best = _best_rows(values)
    out = ["|  | ", "".join("r = {:.3} |".format(r) for r in radii), "\n", "| --- | ", " --- |" * len(radii), "\n"]
    for i, legend in enumerate(legends):
        out.append("<b> {} </b>| ".format(legend))
        for j in range(len(radii)):
            cell = "{:.2f}".format(values[i, j])
            out.append(cell + ("<b>*</b> |" if best[j] == i else " |"))
        out.append("\n")
    return "".join(out)


def to_latex_cohen(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a certified-accuracy table (legends x radii) in Cohen's LaTeX format.

    Header cells ``& $r = {:.3}$`` then ``\\\\`` and ``\\midrule``; each row = legend then
    `` & {:.2f}`` cells; the column maximum (first row on ties, compared at full precision) wrapped
    in ``\\textbf{}``. No ``tabular`` environment (Cohen's files are included into one).
    """
    atomic_write_text(path, latex_cohen_string(df))


def to_markdown(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a certified-accuracy table in Cohen's Markdown format (best cell marked ``<b>*</b>``)."""
    atomic_write_text(path, markdown_cohen_string(df))


def to_csv(df: pd.DataFrame, path: str | os.PathLike, **kwargs: Any) -> None:
    """Write any metrics DataFrame as CSV atomically (``kwargs`` go to DataFrame.to_csv)."""
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"to_csv needs a DataFrame, got {type(df).__name__}")
    atomic_write_text(path, df.to_csv(**kwargs))


# ------------------------------------------------------------------ valid report tables
def best_in_column(values: Sequence[float]) -> list[bool]:
    """Which entries hold the column maximum (all ties marked), none when every finite value is
    equal (e.g. a column of 0.00) or there is at most one finite value."""
    finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if len(finite) < 2 or max(finite) == min(finite):
        return [False] * len(values)
    top = max(finite)
    return [isinstance(v, (int, float)) and math.isfinite(v) and v == top for v in values]


def md_code(text: str) -> str:
    """``text`` as a Markdown code span, fenced with more backticks than it contains."""
    text = str(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


_CODE_SPAN = re.compile(r"(`+).+?(?<!`)\1(?!`)")


def _gfm_cell(text: str, bold: bool) -> str:
    """One cell: whitespace collapsed, pipes escaped, ``<`` outside code spans as ``&lt;`` (GitHub
    would read ``<name>`` as an HTML tag and drop it)."""
    text = " ".join(str(text).split()).replace("|", "\\|")
    parts, last = [], 0
    for span in _CODE_SPAN.finditer(text):
        parts += [text[last : span.start()].replace("<", "&lt;"), span.group(0)]
        last = span.end()
    text = "".join(parts) + text[last:].replace("<", "&lt;")
    return f"**{text}**" if bold and text else text


def gfm_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    bold: Sequence[Sequence[bool]] | None = None,
    *,
    numeric: bool = True,
) -> str:
    """A GitHub-flavoured Markdown table: header row, delimiter row, one line per body row.

    Every line starts and ends with ``|``; pipes inside cells are escaped and line breaks
    collapsed; ``bold[i][j]`` wraps body cell (i, j) in ``**``. The first column is left-aligned,
    the others right-aligned (``numeric=False``: all left-aligned, for text). Raises ValueError
    when a row has the wrong number of cells.
    """
    width = len(header)
    if width == 0:
        raise ValueError("a table needs at least one column")
    lines = ["| " + " | ".join(_gfm_cell(h, False) for h in header) + " |"]
    lines.append("| " + " | ".join([":---"] + ["---:" if numeric else ":---"] * (width - 1)) + " |")
    for i, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(f"row {i} has {len(row)} cells, the header {width}")
        marks = bold[i] if bold is not None else [False] * width
        lines.append("| " + " | ".join(_gfm_cell(c, b) for c, b in zip(row, marks, strict=True)) + " |")
    return "\n".join(lines) + "\n"


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_LATEX_SYMBOLS = {
    "σ": r"$\sigma$",
    "α": r"$\alpha$",
    "ρ": r"$\rho$",
    "ε": r"$\varepsilon$",
    "Δ": r"$\Delta$",
    "Ω": r"$\Omega$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "−": "-",
    "→": r"$\rightarrow$",
    "′": "'",
    "·": r"$\cdot$",
    "×": r"$\times$",
    "ℓ": r"$\ell$",
    "∞": r"$\infty$",
}


def latex_text(text: str) -> str:
    """Plain text (with σ, α, ≥, ... ) as LaTeX: special characters escaped, symbols as math."""
    out = []
    for ch in " ".join(str(text).split()):
        out.append(_LATEX_ESCAPES.get(ch) or _LATEX_SYMBOLS.get(ch) or ch)
    return "".join(out)


def booktabs_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    bold: Sequence[Sequence[bool]] | None = None,
    caption: str | None = None,
) -> str:
    """A LaTeX ``tabular`` with booktabs rules (``\\toprule``, ``\\midrule``, ``\\bottomrule``).

    Cells are plain text (escaped by :func:`latex_text`); ``bold[i][j]`` wraps body cell (i, j)
    in ``\\textbf{}``; ``caption`` becomes a ``%`` comment line above the table (paste it into
    your own ``table`` environment). Needs ``\\usepackage{booktabs}``.
    """
    width = len(header)
    if width == 0:
        raise ValueError("a table needs at least one column")
    lines = [f"% {latex_text(caption)}"] if caption else []
    lines += [r"\begin{tabular}{l" + "r" * (width - 1) + "}", r"\toprule"]
    lines.append(" & ".join(latex_text(h) for h in header) + r" \\")
    lines.append(r"\midrule")
    for i, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(f"row {i} has {len(row)} cells, the header {width}")
        marks = bold[i] if bold is not None else [False] * width
        cells = [rf"\textbf{{{latex_text(c)}}}" if b and c else latex_text(c) for c, b in zip(row, marks, strict=True)]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def gfm_frame(frame: pd.DataFrame, index_name: str, *, digits: int = 2, mark_best: bool = False) -> str:
    """A numeric DataFrame as a :func:`gfm_table`: the index as first column, numbers with
    ``digits`` decimals (NaN as an empty cell), column headers as given (floats via ``{:g}``);
    ``mark_best`` bolds each column's maximum (see :func:`best_in_column`)."""

    def text(value: Any) -> str:
        if isinstance(value, (float, np.floating)):
            return "" if math.isnan(value) else f"{value:.{digits}f}"
        return str(value)

    columns = list(frame.columns)
    header = [index_name] + [f"{c:g}" if isinstance(c, float) else str(c) for c in columns]
    values = [[v for v in frame[c].tolist()] for c in columns]
    marks = [best_in_column(col) if mark_best else [False] * len(col) for col in values]
    rows = [[str(idx)] + [text(values[j][i]) for j in range(len(columns))] for i, idx in enumerate(frame.index)]
    bold = [[False] + [marks[j][i] for j in range(len(columns))] for i in range(len(frame.index))]
    return gfm_table(header, rows, bold)
