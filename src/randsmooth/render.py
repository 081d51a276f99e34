"""Text renderings of result tables: Cohen et al.'s ``analyze.py`` formats, byte for byte.

The input is a certified-accuracy table (rows = legends, columns = radii) such as
:func:`randsmooth.metrics.certified_accuracy_table`.
"""

from __future__ import annotations

import os
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
