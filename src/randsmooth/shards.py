"""Resumable certification shards and their checked merge into one count table.

A run certifies the *subset* ``range(start, stop, skip)`` of a split (Cohen et al. use skip 20 on
CIFAR-10 and 100 on ImageNet). Shard ``k`` of ``K`` (0-based) takes the strided slice
``subset[k::K]``, so every shard gets a similar mix of examples; a single run is shard 0 of 1. The
shard's expected index set follows from the settings stored in its metadata.

While a shard runs, finished rows are appended (one JSON line each, flushed) to the side file
``<out>.progress.jsonl``, whose first line holds the run settings. A restarted run with the same
settings skips the indices already there. The Parquet file is written only when every expected
index is done (temp file + ``os.replace``), then the progress file is deleted. :func:`merge`
combines shards after checking they are complete, disjoint, consistent and cover the subset.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from .counts import CONSISTENCY_FIELDS, RESUME_FIELDS, SCHEMA_VERSION, ExampleRecord, RunSettings
from .counts.io import read_arrow, records_to_table, with_settings, write_atomic

logger = logging.getLogger(__name__)

PROGRESS_SUFFIX = ".progress.jsonl"


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
        """Close the progress file (kept on disk for a later resume, unless it holds no example: a
        failed start, e.g. a model with NaN weights, leaves nothing behind)."""
        if not self._fh.closed:
            self._fh.close()
        if not self.records and self.progress_path.exists():
            self.progress_path.unlink()

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
