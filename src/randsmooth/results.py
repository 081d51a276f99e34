"""Per-example class-count tables: Parquet schema, resumable shard writing, reading and merging.

One row per test example. The certification engine (:mod:`randsmooth.engine`) fills the count
columns; radii and metrics are computed later from these counts (:mod:`randsmooth.decide`,
:mod:`randsmooth.metrics`), so one sampling run serves every alpha, norm and cost matrix.

Parquet schema (``randsmooth.schema`` = "1")
--------------------------------------------

=====================  ========================  ===============================================
column                 type                      meaning
=====================  ========================  ===============================================
``idx``                int64                     index of the example in the dataset split
``label``              int64                     its true class
``num_classes``        int32                     K, the length of every count vector
``counts_selection``   list<int64> (len K)       class counts of the n0 selection samples
``counts_estimation``  list<int64> (len K)       class counts of the n separate estimation samples
``prefix_budgets``     list<int64>               sorted budgets n' (10^2, 10^3, ... < n, then n)
``counts_prefix``      list<list<int64>>         cumulative estimation counts of the first n'
                                                 samples, one length-K row per budget; the last
                                                 row equals ``counts_estimation``
``n0``                 int64                     number of selection samples
``n``                  int64                     number of estimation samples
``noise``              string                    noise family (:func:`randsmooth.sampling.get_noise`)
``noise_params``       string                    family parameters as JSON with sorted keys
``sigma``              float64                   per-coordinate RMS of the noise, [0, 1] pixel units
``dim``                int64                     d = C*H*W, the number of noised coordinates
``seed``               int64                     global seed of the noise streams
``noise_block``        int64                     samples per independently seeded noise block
``model_id``           string                    checkpoint file name + ":" + sha256[:16] of its bytes
``time_s``             float64                   wall time for this example (both stages), seconds
``version``            string                    ``randsmooth.__version__`` that wrote the row
=====================  ========================  ===============================================

File-level key-value metadata: ``randsmooth.schema`` = "1" and ``randsmooth.settings`` = the full
run settings as JSON (:class:`RunSettings`: checkpoint path, dataset and options, split, index
spec, sampling sizes, seed, batch, device, torch version, the noise RNG scheme ``rng``, the
engine's ``fast`` / ``compile`` modes, ...). Settings written before ``rng`` was recorded read as
``rng = "block-v1"`` (the scheme of that time), before ``fast`` / ``compile`` as false.

Shards
------
A run certifies the *subset* ``range(start, stop, skip)`` of a split (Cohen et al. use skip 20 on
CIFAR-10 and 100 on ImageNet). Shard ``k`` of ``K`` (0-based) takes the strided slice
``subset[k::K]``, so every shard gets a similar mix of examples; a single run is shard 0 of 1. The
shard's expected index set follows from the settings stored in its metadata.

While a shard runs, finished rows are appended (one JSON line each, flushed) to the side file
``<out>.progress.jsonl``, whose first line holds the run settings. A restarted run with the same
settings skips the indices already there. The Parquet file is written only when every expected
index is done (temp file + ``os.replace``), then the progress file is deleted. :func:`merge`
combines shards after checking they are complete, disjoint, consistent and cover the subset.

Command line: ``python -m randsmooth merge --out MERGED.parquet SHARD.parquet ... [--expect-count N]
[--start A --stop B [--skip S]]`` (exit status 1 with a one-line error naming the offending shard).
Reading: :func:`read_table` (DataFrame), :func:`counts_matrix` (stacked int64 counts),
:func:`counts_at_budget`, :func:`read_settings`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__
from .atomic import atomic_path

logger = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
# Noise RNG schemes of the engine (randsmooth.engine): block-v1 = one seeded torch.Generator per
# noise block; philox-v1 = counter-based noise for Gaussian/Laplace/uniform (block-v1 otherwise).
RNG_SCHEMES: tuple[str, ...] = ("block-v1", "philox-v1")
LEGACY_RNG = "block-v1"  # settings without an ``rng`` entry were written with this scheme
DEFAULT_RNG = "philox-v1"
META_SCHEMA = b"randsmooth.schema"
META_SETTINGS = b"randsmooth.settings"
PROGRESS_SUFFIX = ".progress.jsonl"

ARROW_SCHEMA = pa.schema(
    [
        ("idx", pa.int64()),
        ("label", pa.int64()),
        ("num_classes", pa.int32()),
        ("counts_selection", pa.list_(pa.int64())),
        ("counts_estimation", pa.list_(pa.int64())),
        ("prefix_budgets", pa.list_(pa.int64())),
        ("counts_prefix", pa.list_(pa.list_(pa.int64()))),
        ("n0", pa.int64()),
        ("n", pa.int64()),
        ("noise", pa.string()),
        ("noise_params", pa.string()),
        ("sigma", pa.float64()),
        ("dim", pa.int64()),
        ("seed", pa.int64()),
        ("noise_block", pa.int64()),
        ("model_id", pa.string()),
        ("time_s", pa.float64()),
        ("version", pa.string()),
    ]
)

# Settings that every shard of one merged table must share (the run's scientific identity).
CONSISTENCY_FIELDS: tuple[str, ...] = (
    "model_id",
    "dataset",
    "dataset_options",
    "split",
    "noise",
    "noise_params",
    "sigma",
    "dim",
    "num_classes",
    "n0",
    "n",
    "seed",
    "noise_block",
    "prefix_budgets",
    "autocast",
    "rng",
)
# Settings a resumed run must share with its progress file, so that resumed counts are identical
# to an uninterrupted run (device type and torch version determine the random streams).
RESUME_FIELDS: tuple[str, ...] = CONSISTENCY_FIELDS + (
    "start",
    "stop",
    "skip",
    "shard",
    "num_shards",
    "device_type",
    "torch_version",
)


def default_prefix_budgets(n: int) -> tuple[int, ...]:
    """Prefix budgets 10^2, 10^3, ... strictly below ``n``, followed by ``n`` itself."""
    budgets = []
    b = 100
    while b < n:
        budgets.append(b)
        b *= 10
    return tuple(budgets) + (int(n),)


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int if it is an integer (not a bool) >= ``minimum``, else ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def noise_params_json(params: dict[str, Any]) -> str:
    """Canonical JSON text of noise parameters (sorted keys), as stored in ``noise_params``."""
    return json.dumps(params, sort_keys=True)


@dataclass(frozen=True)
class RunSettings:
    """Everything that produced a shard; stored as JSON in the Parquet metadata.

    ``dataset_options`` and ``noise_params`` are plain dicts; ``prefix_budgets`` a sorted list
    ending with ``n``. ``device`` is the resolved torch device string ("cpu", "cuda:0", ...).
    ``merged_from`` lists the shards a merged table was built from (None for a shard). ``rng`` is
    the noise RNG scheme (one of :data:`RNG_SCHEMES`); ``fast`` and ``compile`` the engine modes.
    """

    checkpoint: str
    model_id: str
    dataset: str
    split: str
    noise: str
    sigma: float
    dim: int
    num_classes: int
    n0: int
    n: int
    start: int
    stop: int
    skip: int = 1
    shard: int = 0
    num_shards: int = 1
    seed: int = 0
    noise_block: int = 128
    batch: int = 400
    device: str = "cpu"
    autocast: bool = False
    channels_last: bool = False
    rng: str = DEFAULT_RNG
    fast: bool = False
    compile: bool = False
    dataset_options: dict[str, Any] = field(default_factory=dict)
    data_root: str | None = None
    noise_params: dict[str, Any] = field(default_factory=dict)
    prefix_budgets: list[int] = field(default_factory=list)
    torch_version: str = ""
    version: str = __version__
    merged_from: list[dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        for name, minimum in (
            ("dim", 1),
            ("num_classes", 1),
            ("n0", 1),
            ("n", 1),
            ("start", 0),
            ("stop", 0),
            ("skip", 1),
            ("shard", 0),
            ("num_shards", 1),
            ("seed", 0),
            ("noise_block", 1),
            ("batch", 1),
        ):
            check_int(name, getattr(self, name), minimum)
        if self.stop < self.start:
            raise ValueError(f"stop must be >= start, got start={self.start}, stop={self.stop}")
        if self.rng not in RNG_SCHEMES:
            raise ValueError(f"rng must be one of {RNG_SCHEMES}, got {self.rng!r}")
        if self.shard >= self.num_shards:
            raise ValueError(f"shard must be in [0, num_shards={self.num_shards}), got {self.shard}")
        if not isinstance(self.sigma, (int, float)) or isinstance(self.sigma, bool) or not self.sigma > 0:
            raise ValueError(f"sigma must be a positive number, got {self.sigma!r}")
        budgets = list(self.prefix_budgets) or list(default_prefix_budgets(self.n))
        if (
            any(check_int("prefix_budgets entry", b, 1) > self.n for b in budgets)
            or budgets != sorted(set(budgets))
            or budgets[-1] != self.n
        ):
            raise ValueError(
                f"prefix_budgets must be strictly increasing, <= n and end with n={self.n}, got {self.prefix_budgets!r}"
            )
        object.__setattr__(self, "prefix_budgets", [int(b) for b in budgets])
        object.__setattr__(self, "sigma", float(self.sigma))

    # ---------------------------------------------------------------------- index sets
    def subset(self) -> range:
        """The declared subset ``range(start, stop, skip)`` shared by all shards of a run."""
        return range(self.start, self.stop, self.skip)

    def expected_indices(self) -> range:
        """This shard's indices: ``subset()[shard::num_shards]``."""
        return self.subset()[self.shard :: self.num_shards]

    @property
    def device_type(self) -> str:
        return self.device.split(":")[0]

    # ---------------------------------------------------------------------- conversion
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any, source: str) -> "RunSettings":
        """Build from a dict read from ``source`` (a file name used in error messages)."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: run settings must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{source}: unknown run settings {unknown}")
        data = {"rng": LEGACY_RNG, **data}  # written before the scheme was recorded
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: invalid run settings: {exc}") from None

    def row_constants(self) -> dict[str, Any]:
        """The per-row columns that are constant over a run."""
        return {
            "n0": self.n0,
            "n": self.n,
            "noise": self.noise,
            "noise_params": noise_params_json(self.noise_params),
            "sigma": self.sigma,
            "dim": self.dim,
            "seed": self.seed,
            "noise_block": self.noise_block,
            "model_id": self.model_id,
            "version": self.version,
        }

    def differences(self, other: "RunSettings", fields: Sequence[str]) -> list[str]:
        """Human-readable ``"name: mine != other"`` for every listed field that differs."""
        out = []
        for name in fields:
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                out.append(f"{name} {mine!r} != {theirs!r}")
        return out


@dataclass(frozen=True)
class ExampleRecord:
    """The sampled counts of one example (one table row without the run constants).

    ``counts_selection`` and ``counts_estimation`` are int64 arrays of length K,
    ``prefix_budgets`` int64 of length B, ``counts_prefix`` int64 of shape (B, K) (cumulative),
    ``time_s`` wall-clock seconds for this example.
    """

    idx: int
    label: int
    counts_selection: np.ndarray
    counts_estimation: np.ndarray
    prefix_budgets: np.ndarray
    counts_prefix: np.ndarray
    time_s: float

    def check(self, settings: RunSettings, source: str) -> None:
        """Raise ``ValueError`` (naming ``source``) unless the record is consistent with ``settings``."""
        k, budgets = settings.num_classes, np.asarray(settings.prefix_budgets, dtype=np.int64)
        where = f"{source}: index {self.idx}"
        sel, est, pre = self.counts_selection, self.counts_estimation, self.counts_prefix
        if sel.shape != (k,) or est.shape != (k,) or pre.shape != (len(budgets), k):
            raise ValueError(
                f"{where}: count shapes {sel.shape}, {est.shape}, {pre.shape} do not match "
                f"num_classes={k} and {len(budgets)} prefix budgets"
            )
        if not np.array_equal(self.prefix_budgets, budgets):
            raise ValueError(f"{where}: prefix_budgets {self.prefix_budgets.tolist()} != {budgets.tolist()}")
        if (sel < 0).any() or (pre < 0).any() or sel.sum() != settings.n0 or est.sum() != settings.n:
            raise ValueError(
                f"{where}: selection counts must sum to n0={settings.n0} and estimation "
                f"counts to n={settings.n}, got {sel.sum()} and {est.sum()}"
            )
        if (
            not np.array_equal(pre.sum(axis=1), budgets)
            or not np.array_equal(pre[-1], est)
            or (np.diff(pre, axis=0) < 0).any()
        ):
            raise ValueError(
                f"{where}: counts_prefix is not cumulative with row sums {budgets.tolist()} ending in counts_estimation"
            )
        if not 0 <= self.label < k:
            raise ValueError(f"{where}: label {self.label} outside [0, {k})")

    def to_json(self) -> str:
        return json.dumps(
            {
                "idx": int(self.idx),
                "label": int(self.label),
                "counts_selection": self.counts_selection.tolist(),
                "counts_estimation": self.counts_estimation.tolist(),
                "counts_prefix": self.counts_prefix.tolist(),
                "time_s": float(self.time_s),
            }
        )

    @classmethod
    def from_json(cls, text: str, settings: RunSettings, source: str) -> "ExampleRecord":
        data = json.loads(text)
        try:
            return cls(
                idx=int(data["idx"]),
                label=int(data["label"]),
                counts_selection=np.asarray(data["counts_selection"], dtype=np.int64),
                counts_estimation=np.asarray(data["counts_estimation"], dtype=np.int64),
                prefix_budgets=np.asarray(settings.prefix_budgets, dtype=np.int64),
                counts_prefix=np.asarray(data["counts_prefix"], dtype=np.int64),
                time_s=float(data["time_s"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{source}: malformed row ({exc})") from None


# ------------------------------------------------------------------------------ Arrow
def _list_array(matrix: np.ndarray) -> pa.Array:
    """Rows of a 2-D int64 matrix as an Arrow list<int64> array."""
    rows, width = matrix.shape
    offsets = pa.array(np.arange(0, rows * width + 1, width, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(matrix.reshape(-1).astype(np.int64)))


def records_to_table(records: Sequence[ExampleRecord], settings: RunSettings) -> pa.Table:
    """Arrow table (schema :data:`ARROW_SCHEMA`, with file metadata) of ``records`` sorted by idx."""
    records = sorted(records, key=lambda r: r.idx)
    n_rows, k, n_b = len(records), settings.num_classes, len(settings.prefix_budgets)
    sel = np.asarray([r.counts_selection for r in records], dtype=np.int64).reshape(n_rows, k)
    est = np.asarray([r.counts_estimation for r in records], dtype=np.int64).reshape(n_rows, k)
    pre = np.asarray([r.counts_prefix for r in records], dtype=np.int64).reshape(n_rows * n_b, k)
    budgets = np.tile(np.asarray(settings.prefix_budgets, dtype=np.int64), (n_rows, 1))
    outer = pa.array(np.arange(0, n_rows * n_b + 1, n_b, dtype=np.int32))
    const = settings.row_constants()
    columns = {
        "idx": pa.array([r.idx for r in records], pa.int64()),
        "label": pa.array([r.label for r in records], pa.int64()),
        "num_classes": pa.array(np.full(n_rows, k, dtype=np.int32)),
        "counts_selection": _list_array(sel),
        "counts_estimation": _list_array(est),
        "prefix_budgets": _list_array(budgets),
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


def read_settings(path: str | os.PathLike) -> RunSettings:
    """The :class:`RunSettings` stored in a count table (validates the whole file)."""
    return read_arrow(path)[1]


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a count table into a DataFrame (one row per example, sorted by idx).

    List columns hold int64 numpy arrays (``counts_prefix``: shape (B, K) per row); use
    :func:`counts_matrix` for a stacked 2-D/3-D array. The run settings dict is in
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


def counts_matrix(df: pd.DataFrame, column: str) -> np.ndarray:
    """Stack a count column of :func:`read_table`'s DataFrame into an int64 array.

    ``counts_selection`` / ``counts_estimation`` -> shape (N, K); ``counts_prefix`` -> (N, B, K);
    ``prefix_budgets`` -> (N, B).
    """
    if column not in ("counts_selection", "counts_estimation", "counts_prefix", "prefix_budgets"):
        raise ValueError(
            f"column must be one of counts_selection, counts_estimation, counts_prefix, prefix_budgets, got {column!r}"
        )
    if len(df) == 0:
        raise ValueError("counts_matrix: the table has no rows")
    return np.stack([np.asarray(v, dtype=np.int64) for v in df[column].to_numpy()])


def counts_at_budget(df: pd.DataFrame, budget: int) -> np.ndarray:
    """Estimation counts (N, K) using only the first ``budget`` samples (one of the prefix budgets)."""
    budgets = counts_matrix(df, "prefix_budgets")[0].tolist()
    if budget not in budgets:
        raise ValueError(f"budget must be one of the recorded prefix budgets {budgets}, got {budget!r}")
    return counts_matrix(df, "counts_prefix")[:, budgets.index(budget), :]


# --------------------------------------------------------------------- resumable writer
def progress_path(out_path: str | os.PathLike) -> Path:
    """The in-progress side file of the shard ``out_path``."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + PROGRESS_SUFFIX)


class ShardWriter:
    """Collects the rows of one shard, resumably; writes the Parquet file when complete.

    On creation, an existing progress file for ``out_path`` is loaded if its settings match
    ``settings`` on :data:`RESUME_FIELDS` (else ``ValueError`` listing the differences); its
    indices are in :attr:`done`. :meth:`append` adds a row to memory and to the progress file
    (flushed); :meth:`finalize` writes ``out_path`` atomically and deletes the progress file.
    An existing ``out_path`` is an error unless ``overwrite`` is true.
    """

    def __init__(self, out_path: str | os.PathLike, settings: RunSettings, *, overwrite: bool = False) -> None:
        self.out_path = Path(out_path)
        self.progress_path = progress_path(self.out_path)
        self.settings = settings
        if self.out_path.exists() and not overwrite:
            raise FileExistsError(f"{self.out_path} already exists; delete it or pass overwrite=True (--overwrite)")
        self.expected = set(settings.expected_indices())
        self.records: dict[int, ExampleRecord] = {}
        if self.progress_path.exists():
            self._load_progress()
        else:
            self.out_path.parent.mkdir(parents=True, exist_ok=True)
            header = json.dumps({"randsmooth.schema": SCHEMA_VERSION, "settings": settings.to_dict()}, sort_keys=True)
            with open(self.progress_path, "w", encoding="utf-8") as fh:
                fh.write(header + "\n")
        self._fh = open(self.progress_path, "a", encoding="utf-8")

    def _load_progress(self) -> None:
        source = str(self.progress_path)
        with open(self.progress_path, "rb") as fh:
            raw = fh.read()
        complete = raw[: raw.rfind(b"\n") + 1]
        if len(complete) < len(raw):  # a row cut off by a kill: drop it so appends start cleanly
            logger.warning("%s: dropping an incomplete last line (%d bytes)", source, len(raw) - len(complete))
            os.truncate(self.progress_path, len(complete))
        lines = complete.decode("utf-8", errors="replace").splitlines()
        try:
            header = json.loads(lines[0]) if lines else None
        except json.JSONDecodeError:
            header = None
        if not isinstance(header, dict) or header.get("randsmooth.schema") != SCHEMA_VERSION:
            raise ValueError(
                f"{source}: corrupt progress file (line 1 is not a randsmooth header); "
                "delete it to start the shard over"
            )
        previous = RunSettings.from_dict(header.get("settings"), source)
        diffs = previous.differences(self.settings, RESUME_FIELDS)
        if diffs:
            raise ValueError(
                f"{source}: progress file was written with different settings "
                f"({'; '.join(diffs)} [file != this run]); delete it to start over"
            )
        for lineno, line in enumerate(lines[1:], start=2):
            where = f"{source}:{lineno}"
            try:
                rec = ExampleRecord.from_json(line, self.settings, where)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: corrupt progress row ({exc}); delete the file to start over") from None
            rec.check(self.settings, where)
            if rec.idx not in self.expected:
                raise ValueError(f"{where}: index {rec.idx} does not belong to this shard")
            if rec.idx in self.records:
                raise ValueError(f"{where}: index {rec.idx} appears twice")
            self.records[rec.idx] = rec
        logger.info("%s: resuming, %d of %d examples already done", source, len(self.records), len(self.expected))

    @property
    def done(self) -> set[int]:
        """Indices already sampled (from this session or the progress file)."""
        return set(self.records)

    def todo(self) -> list[int]:
        """This shard's expected indices not yet done, in increasing order."""
        return [i for i in self.settings.expected_indices() if i not in self.records]

    def append(self, record: ExampleRecord) -> None:
        """Validate ``record``, keep it and append it to the progress file (flushed)."""
        source = str(self.progress_path)
        record.check(self.settings, source)
        if record.idx not in self.expected:
            raise ValueError(f"{source}: index {record.idx} does not belong to this shard")
        if record.idx in self.records:
            raise ValueError(f"{source}: index {record.idx} was already recorded")
        self._fh.write(record.to_json() + "\n")
        self._fh.flush()
        self.records[record.idx] = record

    def finalize(self) -> Path:
        """Write the complete shard to ``out_path`` atomically and remove the progress file."""
        missing = sorted(self.expected - set(self.records))
        if missing:
            raise ValueError(
                f"{self.out_path}: cannot finalize, {len(missing)} indices not done (first: {missing[:10]})"
            )
        self.close()
        write_atomic(records_to_table(list(self.records.values()), self.settings), self.out_path)
        self.progress_path.unlink(missing_ok=True)
        return self.out_path

    def close(self) -> None:
        """Close the progress file (kept on disk for a later resume)."""
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ------------------------------------------------------------------------------- merge
def _format_indices(indices: Sequence[int], limit: int = 20) -> str:
    shown = ", ".join(str(i) for i in list(indices)[:limit])
    return f"[{shown}{', ...' if len(indices) > limit else ''}] ({len(indices)} in total)"


def _as_range(indices: Sequence[int], skip: int) -> range | None:
    """``indices`` (sorted, unique) as ``range(lo, hi, skip)`` if they form one, else None."""
    if not indices:
        return None
    r = range(indices[0], indices[-1] + 1, skip)
    return r if len(r) == len(indices) and all(a == b for a, b in zip(r, indices, strict=True)) else None


def merge(
    shard_paths: Sequence[str | os.PathLike],
    out_path: str | os.PathLike,
    *,
    expect_indices: Iterable[int] | None = None,
    expect_count: int | None = None,
) -> Path:
    """Merge shard count tables into one table sorted by idx, written atomically to ``out_path``.

    Checks (each failure is a ``ValueError`` naming the offending shard): every shard is readable
    and complete (its rows are exactly its expected index set, from its metadata); all shards agree
    on :data:`CONSISTENCY_FIELDS`; no index is in two shards; and the rows cover the declared subset
    -- the union of the shards' ``range(start, stop, skip)``, or ``expect_indices`` if given.
    ``expect_count`` optionally checks the total number of rows. The merged table's settings are
    the first shard's with shard 0 of 1 over the covered range and ``merged_from`` listing the
    shards.
    """
    if not shard_paths:
        raise ValueError("merge needs at least one shard file")
    tables, settings = [], []
    owner: dict[int, str] = {}
    for path in shard_paths:
        table, s = read_arrow(path)
        name = str(path)
        got = table.column("idx").to_pylist()
        expected = s.expected_indices()
        if set(got) != set(expected):
            lacking = sorted(set(expected) - set(got))
            raise ValueError(f"shard {name}: incomplete, expected indices {_format_indices(lacking)} are missing")
        if settings:
            diffs = s.differences(settings[0], CONSISTENCY_FIELDS)
            if diffs:
                raise ValueError(f"shard {name}: {'; '.join(diffs)} in shard {shard_paths[0]}")
        for i in got:
            if i in owner:
                raise ValueError(f"shard {name}: index {i} also in shard {owner[i]}")
            owner[i] = name
        tables.append(table)
        settings.append(s)
    if len({(s.device_type, s.torch_version) for s in settings}) > 1:
        logger.warning(
            "merging shards sampled on different device types / torch versions: counts are "
            "valid but not bit-reproducible as a single run"
        )
    skips = {s.skip for s in settings}
    if expect_indices is not None:
        declared = sorted(set(int(i) for i in expect_indices))
    else:
        declared = sorted(set().union(*(s.subset() for s in settings)))
    missing = sorted(set(declared) - set(owner))
    if missing:
        raise ValueError(
            f"missing indices {_format_indices(missing)}: shards of the declared subset "
            f"are absent ({len(shard_paths)} given)"
        )
    extra = sorted(set(owner) - set(declared))
    if extra:
        raise ValueError(f"shard {owner[extra[0]]}: indices {_format_indices(extra)} are outside the expected set")
    if expect_count is not None and len(owner) != expect_count:
        raise ValueError(f"merged table has {len(owner)} rows, expected {expect_count}")
    if isinstance(expect_indices, range) and expect_indices.step > 0 and len(expect_indices):
        covered = expect_indices
    else:
        step = skips.pop() if len(skips) == 1 else (declared[1] - declared[0] if len(declared) > 1 else 1)
        covered = _as_range(declared, step)
    if covered is None:
        raise ValueError(
            f"the merged indices {_format_indices(declared)} do not form one range(start, stop, "
            f"skip) with a common skip (shard skips: {sorted(s.skip for s in settings)})"
        )
    first = settings[0]
    merged_settings = dataclasses.replace(
        first,
        start=covered.start,
        stop=covered.stop,
        skip=covered.step,
        shard=0,
        num_shards=1,
        merged_from=[
            {
                "path": str(p),
                "start": s.start,
                "stop": s.stop,
                "skip": s.skip,
                "shard": s.shard,
                "num_shards": s.num_shards,
                "device": s.device,
                "batch": s.batch,
                "fast": s.fast,
                "torch_version": s.torch_version,
            }
            for p, s in zip(shard_paths, settings, strict=True)
        ],
    )
    table = pa.concat_tables([t.replace_schema_metadata(None) for t in tables]).sort_by("idx")
    out = write_atomic(with_settings(table, merged_settings), out_path)
    logger.info("merged %d shards (%d examples) into %s", len(tables), len(table), out)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m randsmooth merge --out MERGED.parquet SHARD...``"""
    parser = argparse.ArgumentParser(
        prog="python -m randsmooth merge",
        description="Merge certification shards into one count table after checking that they are "
        "complete, disjoint, consistent and cover the declared subset.",
    )
    parser.add_argument("shards", nargs="+", help="shard Parquet files written by 'randsmooth certify'")
    parser.add_argument("--out", required=True, help="merged Parquet file (written atomically)")
    parser.add_argument("--expect-count", type=int, default=None, help="required total number of examples")
    parser.add_argument("--start", type=int, default=None, help="expected subset start (with --stop)")
    parser.add_argument("--stop", type=int, default=None, help="expected subset stop, exclusive")
    parser.add_argument("--skip", type=int, default=1, help="expected subset stride (default 1)")
    args = parser.parse_args(argv)
    if (args.start is None) != (args.stop is None):
        parser.error("--start and --stop must be given together")
    if args.skip < 1:
        parser.error(f"--skip must be >= 1, got {args.skip}")
    if args.expect_count is not None and args.expect_count < 0:
        parser.error(f"--expect-count must be >= 0, got {args.expect_count}")
    if str(Path(args.out).resolve()) in {str(Path(s).resolve()) for s in args.shards}:
        parser.error(f"--out {args.out} is also an input shard")
    expect = range(args.start, args.stop, args.skip) if args.start is not None else None
    try:
        merge(args.shards, args.out, expect_indices=expect, expect_count=args.expect_count)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
