"""Reading and writing count tables as Parquet (schema and checks: :mod:`randsmooth.counts`)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..atomic import atomic_path
from .settings import ARROW_SCHEMA, META_SCHEMA, META_SETTINGS, SCHEMA_VERSION, ExampleRecord, RunSettings


def _list_array(matrix: np.ndarray) -> pa.Array:
    """Rows of a 2-D int64 matrix as an Arrow list<int64> array."""
    rows, width = matrix.shape
    offsets = pa.array(np.arange(0, rows * width + 1, width, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(matrix.reshape(-1).astype(np.int64)))


def records_to_table(records: Sequence[ExampleRecord], settings: RunSettings) -> pa.Table:
    """Arrow table (schema :data:`ARROW_SCHEMA`, with file metadata) of ``records`` sorted by idx."""
    records = sorted(records, key=lambda r: r.idx)
    n_rows, k = len(records), settings.num_classes
    sel = np.asarray([r.counts_selection for r in records], dtype=np.int64).reshape(n_rows, k)
    est = np.asarray([r.counts_estimation for r in records], dtype=np.int64).reshape(n_rows, k)
    # per row: its prefix budgets (all of the settings', or the checkpoints a sequential row reached)
    sizes = np.asarray([len(r.counts_prefix) for r in records], dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
    pre = np.zeros((0, k), dtype=np.int64)
    if n_rows:
        pre = np.concatenate([np.asarray(r.counts_prefix, dtype=np.int64).reshape(-1, k) for r in records])
    flat_budgets = pa.array(
        np.concatenate([np.asarray(r.prefix_budgets, dtype=np.int64) for r in records])
        if n_rows
        else np.zeros(0, dtype=np.int64)
    )
    outer = pa.array(offsets)
    const = settings.row_constants()
    columns = {
        "idx": pa.array([r.idx for r in records], pa.int64()),
        "label": pa.array([r.label for r in records], pa.int64()),
        "num_classes": pa.array(np.full(n_rows, k, dtype=np.int32)),
        "counts_selection": _list_array(sel),
        "counts_estimation": _list_array(est),
        "prefix_budgets": pa.ListArray.from_arrays(outer, flat_budgets),
        "counts_prefix": pa.ListArray.from_arrays(outer, _list_array(pre)),
        "time_s": pa.array([r.time_s for r in records], pa.float64()),
    }
    for name, value in const.items():
        columns[name] = pa.array([value] * n_rows, ARROW_SCHEMA.field(name).type)
    table = pa.table([columns[f.name] for f in ARROW_SCHEMA], schema=ARROW_SCHEMA)
    return with_settings(table, settings)


def with_settings(table: pa.Table, settings: RunSettings) -> pa.Table:
    """``table`` with the randsmooth file metadata (schema version + settings JSON)."""
    return table.replace_schema_metadata(
        {META_SCHEMA: SCHEMA_VERSION.encode(), META_SETTINGS: settings.to_json().encode()}
    )


def write_atomic(table: pa.Table, path: str | os.PathLike) -> Path:
    """Write ``table`` to Parquet at ``path`` via a temp file in the same directory + os.replace."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def write_table(df: pd.DataFrame, path: str | os.PathLike, **settings: Any) -> Path:
    """Write a per-example DataFrame in the engine's schema (e.g. a :func:`synthetic_table`) as a
    count table file that :func:`read_table` accepts; returns the path.

    The run settings are taken from the frame's constant columns (one noise, sigma, n0, n, ...);
    ``settings`` sets the others (checkpoint, dataset, split; defaults describe a synthetic run).
    The rows are checked like every table that is read.
    """

    def constant(column: str) -> Any:
        values = pd.unique(df[column].astype(str) if column == "noise_params" else df[column])
        if len(values) != 1:
            raise ValueError(f"write_table: column {column!r} must hold one value, got {list(values)[:3]}")
        return values[0].item() if hasattr(values[0], "item") else values[0]

    idx = np.sort(df["idx"].to_numpy(dtype=np.int64))
    base = {
        "checkpoint": "synthetic",
        "model_id": str(constant("model_id")),
        "dataset": "synthetic",
        "split": "test",
        "noise": str(constant("noise")),
        "noise_params": json.loads(constant("noise_params") or "{}"),
        "sigma": float(constant("sigma")),
        "dim": int(constant("dim")),
        "num_classes": int(constant("num_classes")),
        "n0": int(constant("n0")),
        "n": int(constant("n")),
        "seed": int(constant("seed")),
        "noise_block": max(int(constant("noise_block")), 1),
        "start": int(idx[0]) if len(idx) else 0,
        "stop": int(idx[-1]) + 1 if len(idx) else 0,
        "prefix_budgets": [int(b) for b in df["prefix_budgets"].iloc[0]],
    }
    run = RunSettings(**{**base, **settings})
    records = [
        ExampleRecord(
            int(row.idx),
            int(row.label),
            np.asarray(row.counts_selection, dtype=np.int64),
            np.asarray(row.counts_estimation, dtype=np.int64),
            np.asarray(row.prefix_budgets, dtype=np.int64),
            np.asarray(list(row.counts_prefix), dtype=np.int64),
            float(row.time_s),
        )
        for row in df.itertuples(index=False)
    ]
    for record in records:
        record.check(run, str(path))
    return write_atomic(records_to_table(records, run), path)


def _column_matrix(table: pa.Table, name: str, width: int, source: str) -> np.ndarray:
    """A list<int64> column as an (N, width) int64 matrix; ValueError if a row has another length."""
    col = table.column(name).combine_chunks()
    lengths = col.value_lengths().to_numpy(zero_copy_only=False)
    if col.null_count or (lengths != width).any():
        raise ValueError(f"{source}: column {name} must hold lists of length {width} in every row")
    return col.flatten().to_numpy(zero_copy_only=False).astype(np.int64).reshape(len(table), width)


def read_arrow(path: str | os.PathLike) -> tuple[pa.Table, RunSettings]:
    """Read and validate a count table; return it with its :class:`RunSettings`.

    Raises ``ValueError`` naming ``path`` if it is not a readable Parquet file, lacks the
    randsmooth metadata, does not have the schema of :data:`ARROW_SCHEMA`, or has rows
    inconsistent with its settings.
    """
    source = str(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"{source}: no such count table")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{source}: not a readable Parquet file ({exc})") from None
    meta = table.schema.metadata or {}
    if meta.get(META_SCHEMA) != SCHEMA_VERSION.encode():
        raise ValueError(
            f"{source}: missing or unsupported metadata {META_SCHEMA.decode()} "
            f"(expected {SCHEMA_VERSION!r}, got {meta.get(META_SCHEMA)!r})"
        )
    try:
        settings = RunSettings.from_dict(json.loads(meta[META_SETTINGS]), source)
    except (KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"{source}: missing or malformed metadata {META_SETTINGS.decode()} ({exc})") from None
    if not table.schema.equals(ARROW_SCHEMA, check_metadata=False):
        raise ValueError(
            f"{source}: columns/types differ from the randsmooth schema {SCHEMA_VERSION}: "
            f"got {table.schema.to_string(show_schema_metadata=False)}"
        )
    _check_rows(table, settings, source)
    return table, settings


def _check_rows(table: pa.Table, settings: RunSettings, source: str) -> None:
    """Every row's constants equal the settings; counts are consistent; no duplicate idx."""
    for name, value in settings.row_constants().items():
        if name == "version":
            continue  # rows keep the version that wrote them (merged tables may mix versions)
        values = table.column(name).unique().to_pylist()
        if values and values != [value]:
            raise ValueError(f"{source}: column {name} holds {values[:3]} but the metadata says {value!r}")
    if table.column("num_classes").unique().to_pylist() not in ([], [settings.num_classes]):
        raise ValueError(f"{source}: num_classes column disagrees with the metadata ({settings.num_classes})")
    idx = table.column("idx").to_numpy()
    if len(np.unique(idx)) != len(idx):
        dup = int(idx[np.argsort(idx)][np.flatnonzero(np.diff(np.sort(idx)) == 0)[0]])
        raise ValueError(f"{source}: index {dup} appears more than once")
    for rec in _iter_records(table, settings, source):
        rec.check(settings, source)


def _iter_records(table: pa.Table, settings: RunSettings, source: str) -> Iterable[ExampleRecord]:
    if settings.sequential is not None:
        yield from _iter_sequential_records(table, settings, source)
        return
    k, n_b = settings.num_classes, len(settings.prefix_budgets)
    sel = _column_matrix(table, "counts_selection", k, source)
    est = _column_matrix(table, "counts_estimation", k, source)
    budgets = _column_matrix(table, "prefix_budgets", n_b, source)
    outer = table.column("counts_prefix").combine_chunks()
    if outer.null_count or (outer.value_lengths().to_numpy(zero_copy_only=False) != n_b).any():
        raise ValueError(f"{source}: column counts_prefix must hold {n_b} rows per example")
    inner = pa.table({"c": outer.flatten()})
    pre = _column_matrix(inner, "c", k, source).reshape(len(table), n_b, k)
    idx, label, time_s = (table.column(c).to_numpy() for c in ("idx", "label", "time_s"))
    for r in range(len(table)):
        yield ExampleRecord(int(idx[r]), int(label[r]), sel[r], est[r], budgets[r], pre[r], float(time_s[r]))


def _iter_sequential_records(table: pa.Table, settings: RunSettings, source: str) -> Iterable[ExampleRecord]:
    """Rows of a sequential run: each holds the checkpoints it reached (variable length)."""
    k = settings.num_classes
    sel = _column_matrix(table, "counts_selection", k, source)
    est = _column_matrix(table, "counts_estimation", k, source)
    budgets = table.column("prefix_budgets").combine_chunks()
    outer = table.column("counts_prefix").combine_chunks()
    sizes = budgets.value_lengths().to_numpy(zero_copy_only=False)
    if budgets.null_count or outer.null_count or (outer.value_lengths().to_numpy(zero_copy_only=False) != sizes).any():
        raise ValueError(
            f"{source}: columns prefix_budgets and counts_prefix must have one entry per checkpoint reached"
        )
    flat_budgets = budgets.flatten().to_numpy(zero_copy_only=False).astype(np.int64)
    pre = _column_matrix(pa.table({"c": outer.flatten()}), "c", k, source)
    ends = np.cumsum(sizes)
    idx, label, time_s = (table.column(c).to_numpy() for c in ("idx", "label", "time_s"))
    for r in range(len(table)):
        lo, hi = int(ends[r] - sizes[r]), int(ends[r])
        yield ExampleRecord(
            int(idx[r]), int(label[r]), sel[r], est[r], flat_budgets[lo:hi], pre[lo:hi], float(time_s[r])
        )


def read_settings(path: str | os.PathLike) -> RunSettings:
    """The :class:`RunSettings` stored in a count table (validates the whole file)."""
    return read_arrow(path)[1]


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a count table into a DataFrame (one row per example, sorted by idx).

    List columns hold int64 numpy arrays (``counts_prefix``: shape (B, K) per row); use
    :mod:`randsmooth.counts.access` for stacked arrays. The run settings dict is in
    ``df.attrs["settings"]``.
    """
    table, settings = read_arrow(path)
    table = table.sort_by("idx")
    records = list(_iter_records(table, settings, str(path)))
    df = table.drop_columns(["counts_selection", "counts_estimation", "prefix_budgets", "counts_prefix"]).to_pandas()
    for name in ("counts_selection", "counts_estimation", "prefix_budgets", "counts_prefix"):
        df[name] = pd.Series([getattr(r, name) for r in records], index=df.index, dtype=object)
    df = df[[f.name for f in ARROW_SCHEMA]]
    df.attrs["settings"] = settings.to_dict()
    return df
