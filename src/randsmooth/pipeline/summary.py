"""The summary tables of a paper: every metric of every row group of its tables, in one place.

Input: the ``tables.json`` of :func:`randsmooth.pipeline.commands.paper_tables_json` (entries = row
groups with the metrics file behind each; tables = title, alpha, norm, radii, ...; each row gets
its table's alpha, sidedness and norm as columns). Output: a long CSV
(one row per entry and metric) and a Markdown report (per table: certified accuracy, its envelope
where configured, scalar metrics and the other metric families).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..atomic import atomic_write_text

SCALAR_ORDER = ("n_rows", "clean_accuracy", "acr", "abstain_rate")
TABLE_SETTINGS = ("alpha", "two_sided", "norm")  # a table's reading settings, columns of every row


def summary_table(spec: Mapping[str, Any]) -> Any:
    """Long table (one row per entry and metric) from a :meth:`Workflow.summary_spec` spec."""
    import pandas as pd

    reading = {(t["paper"], t["table"]): {k: t[k] for k in TABLE_SETTINGS} for t in spec["tables"]}
    entries = [dict(sorted({**e, **reading[(e["paper"], e["table"])]}.items())) for e in spec["entries"]]
    frames = []
    for entry in entries:
        path = entry["path"]
        try:
            metrics = pd.read_csv(path)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: cannot read metrics table ({exc})") from None
        if list(metrics.columns) != ["metric", "param", "value"]:
            raise ValueError(f"{path}: expected columns metric, param, value, got {list(metrics.columns)}")
        meta = {k: v for k, v in entry.items() if k != "path"}
        frame = metrics.assign(**{k: [v] * len(metrics) for k, v in meta.items()}, metrics_file=path)
        frames.append(frame)
    if not frames:
        raise ValueError("summary spec has no entries")
    meta_cols = [k for k in entries[0] if k != "path"]
    table = pd.concat(frames, ignore_index=True)
    return table[meta_cols + ["metric", "param", "value", "metrics_file"]]


COUNT_METRICS = ("n_rows", "budget")


def _md_table(frame: Any, index_name: str, digits: int = 4) -> str:
    """A Markdown table of a DataFrame (index as first column, floats rounded, counts as ints)."""
    from ..render import gfm_table

    def cell(value: Any, column: str = "") -> str:
        if isinstance(value, float):
            if math.isnan(value):
                return ""
            if column in COUNT_METRICS and value.is_integer():
                return str(int(value))
            return f"{value:.{digits}f}"
        return str(value)

    columns = [str(c) for c in frame.columns]
    rows = [
        [cell(idx)] + [cell(v, c) for v, c in zip(row.tolist(), columns, strict=True)] for idx, row in frame.iterrows()
    ]
    return gfm_table([index_name] + columns, rows).rstrip("\n")


def _param_label(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def summary_markdown(table: Any, spec: Mapping[str, Any]) -> str:
    """Markdown report: per paper table, certified accuracy, scalars and the other metrics."""

    from ..evaluate import NOISE_SPACE_NOTES
    from ..render import gfm_frame

    lines = ["# Summary", ""]
    for info in spec["tables"]:
        rows = table[(table["paper"] == info["paper"]) & (table["table"] == info["table"])]
        if rows.empty:
            continue
        lines += [f"## {info['paper']} / {info['table']}", ""]
        if info.get("description"):
            lines += [info["description"].strip(), ""]
        first = info.get("first_examples")
        lines += [
            (
                f"norm {info['norm']}, alpha {info['alpha']:g} "
                f"({'two' if info['two_sided'] else 'one'}-sided); rows = runs as named in the config"
                + (f"; the first {first} examples of each run" if first else "")
            ),
            "",
            NOISE_SPACE_NOTES[info.get("noise_space", "pixel")],
            "",
        ]
        labels = list(dict.fromkeys(rows["label"]))
        ca = rows[rows["metric"] == "certified_accuracy"]
        if not ca.empty:
            pivot = ca.pivot_table(index="label", columns="param", values="value", aggfunc="first")
            pivot = pivot.reindex(labels)
            pivot.columns = [f"r = {c:g}" for c in pivot.columns]
            lines += ["### Certified accuracy (column best in bold)", "", gfm_frame(pivot, "run", mark_best=True), ""]
            if info.get("envelope"):
                groups = rows.drop_duplicates("label").set_index("label")["group"]
                env = pivot.groupby(groups.reindex(pivot.index).to_numpy()).max()
                lines += ["### Envelope (best over the runs of each group)", "", gfm_frame(env, "group", digits=4), ""]
        scalars = rows[rows["param"].isna()]
        if not scalars.empty:
            pivot = scalars.pivot_table(index="label", columns="metric", values="value", aggfunc="first")
            order = [c for c in SCALAR_ORDER if c in pivot.columns] + sorted(
                c for c in pivot.columns if c not in SCALAR_ORDER and c != "alpha"
            )
            lines += ["### Scalar metrics", "", _md_table(pivot.reindex(labels)[order], "run"), ""]
        others = rows[rows["param"].notna() & (rows["metric"] != "certified_accuracy")]
        for metric in dict.fromkeys(others["metric"]):
            sub = others[others["metric"] == metric]
            pivot = sub.pivot_table(index="label", columns="param", values="value", aggfunc="first")
            pivot.columns = [_param_label(c) for c in pivot.columns]
            lines += [
                f"### {metric}",
                "",
                _md_table(pivot.reindex([name for name in labels if name in pivot.index]), "run"),
                "",
            ]
    return "\n".join(lines).rstrip("\n") + "\n"


def write_summary(spec: Mapping[str, Any], out_csv: str, out_md: str) -> None:
    """Combine the metrics tables listed in ``spec`` into a long CSV and a Markdown report."""
    table = summary_table(spec)
    atomic_write_text(out_csv, table.to_csv(index=False))
    atomic_write_text(out_md, summary_markdown(table, spec))
