"""``results/index.md`` and ``.csv``: every config name of a model or run and its folder.

Entries are grouped in families (models: data set and architecture; runs: the model they
certify); beside the folder, the index shows only the settings that differ within the family, so
a reader finds "the sigma = 0.5 run of gauss_0.25 with n = 10,000" without the folder's hash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..atomic import atomic_write_text
from ..render import gfm_table, md_code


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


def differing(rows: list[Mapping[str, Any]]) -> list[str]:
    """Setting keys whose values are not the same for every row (sorted)."""
    keys = sorted({k for row in rows for k in row["settings"]})
    return [k for k in keys if len({_text(row["settings"].get(k)) for row in rows}) > 1]


def index_frame(spec: Mapping[str, Any]) -> pd.DataFrame:
    """One row per model and run: kind, name, folder, family, used (by an enabled paper), and
    ``settings`` = the differing settings as ``key=value`` text."""
    used = set(spec.get("used_runs") or [])
    out = []
    for kind in ("model", "run"):
        rows = [r for r in spec["rows"] if r["kind"] == kind]
        for family in dict.fromkeys(r["family"] for r in rows):
            members = [r for r in rows if r["family"] == family]
            keys = differing(members)
            for row in members:
                out.append(
                    {
                        "kind": kind,
                        "name": row["name"],
                        "folder": row["folder"],
                        "family": family,
                        "used": kind == "model" or row["name"] in used,
                        "settings": ", ".join(
                            f"{k}={_text(row['settings'][k])}" for k in keys if row["settings"].get(k) is not None
                        ),
                    }
                )
    return pd.DataFrame(out, columns=["kind", "name", "folder", "family", "used", "settings"])


def write_index(spec: Mapping[str, Any], out_md: str, out_csv: str) -> pd.DataFrame:
    frame = index_frame(spec)
    atomic_write_text(out_csv, frame.to_csv(index=False))
    lines = [
        "# Index: config names and their folders",
        "",
        "Folders are content-addressed (a readable name plus a hash of the settings). Within a family "
        "(models: data set and architecture; runs: the model certified) only the settings that differ are "
        "shown. Runs no enabled paper table lists are marked unused (not computed by `snakemake --cores all`).",
        "",
    ]
    for kind, title in (("model", "Models"), ("run", "Certification runs")):
        part = frame[frame["kind"] == kind]
        rows = [
            [md_code(r.name), r.family, r.settings, md_code(r.folder) + ("" if r.used else " (unused)")]
            for r in part.itertuples(index=False)
        ]
        lines += [
            f"## {title}",
            "",
            gfm_table(["name", "family", "differs in", "folder"], rows, numeric=False).rstrip("\n"),
            "",
        ]
    atomic_write_text(out_md, "\n".join(lines))
    return frame
