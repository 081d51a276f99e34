"""The papers' published values (``config/published/<paper>.yaml``), shown beside ours.

A file holds ``values``: blocks of printed numbers, each with the artifact it belongs to, its
``source`` (the paper's table or figure, or the released file), a ``tag`` -- ``paper`` (printed in
the paper), ``released`` (the authors' released analysis files or README) or ``second-hand``
(quoted elsewhere, not checked against the paper) -- the ``keys`` every cell shares (data set,
method, N, metric, ...) and the cells, either as a matrix::

    rows: sigma                      # key of the row labels
    columns: {radius: [0.25, 0.5]}   # key of the columns and its values
    values: {0.25: [0.60, 0.43], 0.5: [0.55, 0.41]}

or as a list ``cells: [{radius: 0.5, sigma: 0.25, certified_accuracy: 0.49}]`` whose fields named
in ``metrics`` are values and the others keys. It may also list the released per-example
``logs`` (:mod:`.published_logs`). A cell of ours gets a published value when every key of the
published record equals the cell's (numbers compared with a relative tolerance of 1e-9).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TAGS = ("paper", "released", "second-hand")


@dataclass(frozen=True)
class Record:
    """One published number: the artifact, the keys that identify its cell, value, source, tag."""

    artifact: str
    keys: dict[str, Any]
    value: float
    source: str
    tag: str

    def matches(self, artifact: str, keys: Mapping[str, Any]) -> bool:
        return artifact == self.artifact and all(k in keys and _equal(v, keys[k]) for k, v in self.keys.items())


def _equal(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b


@dataclass
class Published:
    """Every published number of one paper, and the released logs it lists."""

    paper: str
    records: list[Record] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)

    def find(self, artifact: str, keys: Mapping[str, Any]) -> Record | None:
        """The published record of a cell of ``artifact`` with these keys (None if not printed)."""
        for record in self.records:
            if record.matches(artifact, keys):
                return record
        return None


def load_published(path: str | Path | None, paper: str) -> Published:
    """Read ``config/published/<paper>.yaml`` (None or a missing file: nothing published)."""
    if path is None or not Path(path).is_file():
        return Published(paper)
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if raw.get("paper") != paper:
        raise ValueError(f"{path}: holds the values of {raw.get('paper')!r}, not {paper!r}")
    records = []
    for i, block in enumerate(raw.get("values") or []):
        records += _expand(block, f"{path}: values[{i}]")
    return Published(paper, records, list(raw.get("logs") or []))


def _expand(block: Mapping[str, Any], where: str) -> list[Record]:
    for key in ("artifact", "source", "tag"):
        if key not in block:
            raise ValueError(f"{where}: missing {key!r}")
    if block["tag"] not in TAGS:
        raise ValueError(f"{where}: tag must be one of {TAGS}, got {block['tag']!r}")
    common = dict(block.get("keys") or {})

    def record(keys: dict[str, Any], value: Any) -> Record:
        return Record(block["artifact"], {**common, **keys}, float(value), block["source"], block["tag"])

    if "cells" in block:
        names = list(block.get("metrics") or [])
        if not names:
            raise ValueError(f"{where}: cells need 'metrics' (the fields that are values)")
        out = []
        for cell in block["cells"]:
            keys = {k: v for k, v in cell.items() if k not in names}
            out += [record({**keys, "metric": m}, cell[m]) for m in names if cell.get(m) is not None]
        return out
    if not {"rows", "columns", "values"} <= set(block):
        raise ValueError(f"{where}: give either cells or rows, columns and values")
    ((column_key, column_values),) = block["columns"].items()
    out = []
    for row, values in block["values"].items():
        if len(values) != len(column_values):
            raise ValueError(f"{where}: row {row!r} has {len(values)} values for {len(column_values)} columns")
        out += [
            record({block["rows"]: row, column_key: c}, v)
            for c, v in zip(column_values, values, strict=True)
            if v is not None
        ]
    return out
