"""Tests of the count tables: Parquet round trip, shard invariance, merge checks, resumption."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from randsmooth import counts
from randsmooth.cli.merge import main as merge_main
from randsmooth.counts import (
    ARROW_SCHEMA,
    RunSettings,
    estimation_counts,
    read_settings,
    read_table,
    records_to_table,
    selection_counts,
    write_atomic,
)
from randsmooth.engine import CountSampler, SamplerConfig, sample_shard
from randsmooth.sampling import get_noise
from randsmooth.shards import ShardWriter, merge, progress_path

SHAPE = (1, 4, 4)
DIM = 16
NUM_EXAMPLES = 11


class LinearThreeClass(torch.nn.Module):
    """Logits (w1.x, w2.x, 0) + bias: three classes, all of them hit under noise."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.register_buffer("w", torch.randn(DIM, 2, generator=gen))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x.flatten(1) @ self.w - 0.5 * self.w.sum(0)
        return torch.cat([z, torch.zeros_like(z[:, :1])], dim=1)


def toy_dataset(num: int = NUM_EXAMPLES) -> list[tuple[torch.Tensor, int]]:
    gen = torch.Generator().manual_seed(1)
    return [(torch.rand(SHAPE, generator=gen), i % 3) for i in range(num)]


class Interrupted(RuntimeError):
    pass


class FailingDataset:
    """Raises after ``limit`` items have been read (simulates a killed job)."""

    def __init__(self, data, limit: int) -> None:
        self.data, self.limit, self.reads = data, limit, 0

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i):
        if self.reads >= self.limit:
            raise Interrupted("simulated kill")
        self.reads += 1
        return self.data[i]


def make_settings(**overrides) -> RunSettings:
    base = dict(
        checkpoint="toy.pt",
        model_id="toy.pt:0123456789abcdef",
        dataset="toy",
        split="test",
        noise="gaussian",
        noise_params={},
        sigma=0.5,
        dim=DIM,
        num_classes=3,
        n0=20,
        n=250,
        start=0,
        stop=NUM_EXAMPLES,
        skip=1,
        shard=0,
        num_shards=1,
        seed=7,
        noise_block=32,
        batch=50,
        prefix_budgets=[100, 250],
        torch_version=torch.__version__,
    )
    base.update(overrides)
    return RunSettings(**base)


def run_shard(out, data=None, **overrides):
    settings = make_settings(**overrides)
    noise = get_noise(settings.noise, settings.sigma, DIM, **settings.noise_params)
    config = SamplerConfig(
        n0=settings.n0,
        n=settings.n,
        batch=settings.batch,
        seed=settings.seed,
        noise_block=settings.noise_block,
        prefix_budgets=tuple(settings.prefix_budgets),
    )
    sampler = CountSampler(LinearThreeClass(), noise, 3, "cpu", config)
    with ShardWriter(out, settings) as writer:
        return sample_shard(sampler, toy_dataset() if data is None else data, writer)


def comparable(df: pd.DataFrame) -> list:
    """Everything but the timing, as plain lists."""
    df = df.drop(columns=["time_s"])
    return [[v.tolist() if isinstance(v, np.ndarray) else v for v in row] for row in df.itertuples(index=False)]


def test_round_trip_schema_and_helpers(tmp_path):
    path = run_shard(tmp_path / "single.parquet")
    assert not progress_path(path).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["single.parquet"]
    table = pq.read_table(path)
    assert table.schema.equals(ARROW_SCHEMA, check_metadata=False)
    assert table.schema.metadata[b"randsmooth.schema"] == b"1"
    meta = json.loads(table.schema.metadata[b"randsmooth.settings"])
    assert meta["sigma"] == 0.5 and meta["stop"] == NUM_EXAMPLES and meta["torch_version"] == torch.__version__
    df = read_table(path)
    assert df["idx"].tolist() == list(range(NUM_EXAMPLES))
    assert df["label"].tolist() == [i % 3 for i in range(NUM_EXAMPLES)]
    sel, est = selection_counts(df), estimation_counts(df)[0]
    assert sel.shape == (NUM_EXAMPLES, 3) and sel.dtype == np.int64 and (sel.sum(1) == 20).all()
    assert est.shape == (NUM_EXAMPLES, 3) and (est.sum(1) == 250).all() and (est.sum(0) > 0).all()
    pre = np.stack(df["counts_prefix"].to_list())
    assert pre.shape == (NUM_EXAMPLES, 2, 3) and np.array_equal(pre[:, -1], est)
    assert np.array_equal(estimation_counts(df, 100)[0], pre[:, 0]) and (pre[:, 0].sum(1) == 100).all()
    with pytest.raises(ValueError, match="budget"):
        estimation_counts(df, 50)
    assert set(df["noise"]) == {"gaussian"} and set(df["noise_params"]) == {"{}"}
    assert set(df["model_id"]) == {"toy.pt:0123456789abcdef"} and set(df["noise_block"]) == {32}
    assert (df["time_s"] > 0).all() and df.attrs["settings"]["seed"] == 7
    assert read_settings(path) == make_settings()


@pytest.mark.parametrize("noise, params", [("gaussian", {}), ("expinf", {"k": 1, "j": 0})])
def test_sharding_and_batch_size_do_not_change_counts(tmp_path, noise, params):
    single = run_shard(tmp_path / "single.parquet", noise=noise, noise_params=params, batch=1000)
    shards = [
        run_shard(tmp_path / f"shard_{k}.parquet", noise=noise, noise_params=params, shard=k, num_shards=3, batch=batch)
        for k, batch in enumerate((7, 50, 1000))
    ]
    assert read_table(shards[1])["idx"].tolist() == list(range(1, NUM_EXAMPLES, 3))
    merged = merge(shards, tmp_path / "merged.parquet")
    assert comparable(read_table(merged)) == comparable(read_table(single))
    assert read_settings(merged).merged_from[2]["batch"] == 1000
    assert read_settings(merged).expected_indices() == range(NUM_EXAMPLES)
    # a merged table is itself a valid complete table: merging it alone is a no-op
    again = merge([merged], tmp_path / "again.parquet")
    assert comparable(read_table(again)) == comparable(read_table(single))


def test_contiguous_range_shards_merge(tmp_path):
    parts = [run_shard(tmp_path / f"part_{a}.parquet", start=a, stop=b, skip=2) for a, b in ((0, 6), (6, 11))]
    single = run_shard(tmp_path / "single.parquet", skip=2)
    merged = merge(parts, tmp_path / "merged.parquet", expect_count=6)
    assert read_table(merged)["idx"].tolist() == [0, 2, 4, 6, 8, 10]
    assert comparable(read_table(merged)) == comparable(read_table(single))


def test_merge_errors_name_the_shard(tmp_path):
    shards = [run_shard(tmp_path / f"shard_{k}.parquet", shard=k, num_shards=3) for k in range(3)]
    out = tmp_path / "merged.parquet"
    with pytest.raises(ValueError, match=r"missing indices \[1, 4, 7, 10\]"):
        merge([shards[0], shards[2]], out)
    overlap = run_shard(tmp_path / "overlap.parquet", start=3, stop=5)
    with pytest.raises(ValueError, match=r"shard .*overlap.parquet: index 3 also in shard .*shard_0.parquet"):
        merge([shards[0], shards[1], shards[2], overlap], out)
    with pytest.raises(ValueError, match=r"shard .*shard_1.parquet: index 1 also in"):
        merge([shards[0], shards[1], shards[1]], out)
    other_sigma = run_shard(tmp_path / "sigma.parquet", sigma=0.25, shard=1, num_shards=3)
    with pytest.raises(ValueError, match=r"shard .*sigma.parquet: sigma 0.25 != 0.5 in shard .*shard_0.parquet"):
        merge([shards[0], other_sigma, shards[2]], out)
    other_seed = run_shard(tmp_path / "seed.parquet", seed=8, shard=2, num_shards=3)
    with pytest.raises(ValueError, match=r"seed.parquet: seed 8 != 7"):
        merge([shards[0], shards[1], other_seed], out)
    with pytest.raises(ValueError, match="11 rows, expected 120"):
        merge(shards, out, expect_count=120)
    with pytest.raises(ValueError, match=r"missing indices \[11\]"):
        merge(shards, out, expect_indices=range(12))
    assert not out.exists()
    assert merge(shards, out, expect_count=11) == out


def test_merge_rejects_incomplete_and_corrupt_files(tmp_path):
    full = run_shard(tmp_path / "full.parquet")
    df_table = pq.read_table(full)
    settings = read_settings(full)
    records = [r for r in counts.io._iter_records(df_table, settings, "x") if r.idx != 4]
    partial = write_atomic(records_to_table(records, settings), tmp_path / "partial.parquet")
    with pytest.raises(ValueError, match=r"shard .*partial.parquet: incomplete, expected indices \[4\]"):
        merge([partial], tmp_path / "out.parquet")
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(ValueError, match=r"corrupt.parquet: not a readable Parquet file"):
        merge([corrupt], tmp_path / "out.parquet")
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(full.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"truncated.parquet: not a readable Parquet file"):
        read_table(truncated)
    bare = tmp_path / "bare.parquet"
    pq.write_table(df_table.replace_schema_metadata(None), bare)
    with pytest.raises(ValueError, match=r"bare.parquet: missing or unsupported metadata randsmooth.schema"):
        read_table(bare)
    tampered = tmp_path / "tampered.parquet"
    sigma_col = pa.array([0.3] * len(df_table), pa.float64())
    pq.write_table(df_table.set_column(df_table.schema.get_field_index("sigma"), "sigma", sigma_col), tampered)
    with pytest.raises(ValueError, match=r"tampered.parquet: column sigma holds \[0.3\]"):
        read_table(tampered)
    with pytest.raises(FileNotFoundError, match="nothing.parquet"):
        read_table(tmp_path / "nothing.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path):
    reference = run_shard(tmp_path / "reference.parquet", batch=64)
    out = tmp_path / "resumed.parquet"
    with pytest.raises(Interrupted):
        run_shard(out, data=FailingDataset(toy_dataset(), limit=4), batch=50)
    assert not out.exists()
    lines = progress_path(out).read_text().splitlines()
    assert len(lines) == 1 + 4
    # a second interruption, then a kill in the middle of writing a row
    with pytest.raises(Interrupted):
        run_shard(out, data=FailingDataset(toy_dataset(), limit=3), batch=7)
    with open(progress_path(out), "a") as fh:
        fh.write('{"idx": 9, "label": 0, "counts_sel')
    run_shard(out, batch=1000)
    assert not progress_path(out).exists()
    assert comparable(read_table(out)) == comparable(read_table(reference))


def test_resume_refuses_different_settings_and_corrupt_progress(tmp_path):
    out = tmp_path / "shard.parquet"
    with pytest.raises(Interrupted):
        run_shard(out, data=FailingDataset(toy_dataset(), limit=2))
    with pytest.raises(
        ValueError,
        match=r"progress.jsonl: progress file was written with different settings "
        r"\(sigma 0.5 != 0.25",
    ):
        run_shard(out, sigma=0.25)
    lines = progress_path(out).read_text().splitlines()
    progress_path(out).write_text("\n".join([lines[0], "{not json", lines[1]]) + "\n")
    with pytest.raises(ValueError, match=r"shard.parquet.progress.jsonl:2: corrupt progress row"):
        run_shard(out)
    progress_path(out).write_text("garbage\n")
    with pytest.raises(ValueError, match=r"progress.jsonl: corrupt progress file"):
        run_shard(out)
    progress_path(out).unlink()
    run_shard(out)
    with pytest.raises(FileExistsError, match="already exists"):
        run_shard(out)


def test_run_settings_validation():
    with pytest.raises(ValueError, match="shard must be in"):
        make_settings(shard=3, num_shards=3)
    with pytest.raises(ValueError, match="stop must be >= start"):
        make_settings(start=5, stop=2)
    with pytest.raises(ValueError, match="prefix_budgets"):
        make_settings(prefix_budgets=[100, 200])
    assert make_settings(prefix_budgets=[]).prefix_budgets == [100, 250]
    s = make_settings(start=3, stop=20, skip=2, shard=1, num_shards=3)
    assert list(s.expected_indices()) == list(range(3, 20, 2))[1::3]
    with pytest.raises(ValueError, match="unknown run settings"):
        RunSettings.from_dict({**s.to_dict(), "bogus": 1}, "meta")
    assert RunSettings.from_dict(json.loads(s.to_json()), "meta") == s
    assert dataclasses.replace(s, batch=9).differences(s, counts.RESUME_FIELDS) == []


def test_merge_cli(tmp_path, capsys):
    shards = [str(run_shard(tmp_path / f"s{k}.parquet", shard=k, num_shards=2)) for k in range(2)]
    out = tmp_path / "m.parquet"
    assert merge_main(["--out", str(out), shards[0]]) == 2  # a user error: one line, exit status 2
    assert "missing indices [1, 3, 5, 7, 9]" in capsys.readouterr().err
    assert merge_main(["--out", str(out), "--expect-count", "11", *shards]) == 0
    assert len(read_table(out)) == NUM_EXAMPLES
    assert merge_main(["--out", str(tmp_path / "m2.parquet"), "--start", "0", "--stop", "12", *shards]) == 2
    assert "missing indices [11]" in capsys.readouterr().err
    assert merge_main(["--out", shards[0], *shards]) == 2
    assert "is also an input shard" in capsys.readouterr().err


def test_atomic_temp_file_never_matches_the_destination_extension(tmp_path):
    from randsmooth.atomic import atomic_path

    dest = tmp_path / "shard_0.parquet"
    with atomic_path(dest) as tmp:
        tmp.write_bytes(b"partial")
        assert tmp.parent == tmp_path and tmp.name.endswith(".tmp")
        assert list(tmp_path.glob("*.parquet")) == []
    assert dest.read_bytes() == b"partial" and list(tmp_path.iterdir()) == [dest]


def test_atomic_files_respect_the_umask(tmp_path):
    """Results are as readable by the team as any file the user writes (mkstemp alone makes 0600)."""
    import os

    from randsmooth.atomic import atomic_write_text

    previous = os.umask(0o027)
    try:
        path = atomic_write_text(tmp_path / "group.csv", "x\n")
        assert path.stat().st_mode & 0o777 == 0o640
        os.umask(0o022)
        assert atomic_write_text(tmp_path / "world.csv", "x\n").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(previous)


def rewrite_settings(path, out, drop=(), **changes):
    """A copy of the table ``path`` whose settings metadata lacks ``drop`` and has ``changes``."""
    table = pq.read_table(path)
    settings = json.loads(table.schema.metadata[b"randsmooth.settings"])
    settings = {k: v for k, v in settings.items() if k not in drop} | changes
    meta = {**table.schema.metadata, b"randsmooth.settings": json.dumps(settings).encode()}
    pq.write_table(table.replace_schema_metadata(meta), out)
    return out


def test_tables_written_before_the_rng_scheme_was_recorded_still_read(tmp_path):
    path = run_shard(tmp_path / "new.parquet", shard=0, num_shards=2)
    assert read_settings(path).rng == "philox-v1" and read_settings(path).fast is False
    legacy = rewrite_settings(path, tmp_path / "legacy.parquet", drop=("rng", "fast", "compile"))
    settings = read_settings(legacy)
    assert (settings.rng, settings.fast, settings.compile) == ("block-v1", False, False)
    assert comparable(read_table(legacy)) == comparable(read_table(path))
    # a progress file of that time cannot be resumed with the new streams
    out = tmp_path / "resume.parquet"
    header = {"randsmooth.schema": "1", "settings": {k: v for k, v in make_settings().to_dict().items() if k != "rng"}}
    progress_path(out).write_text(json.dumps(header) + "\n")
    with pytest.raises(ValueError, match=r"rng 'block-v1' != 'philox-v1' \[file != this run\]"):
        ShardWriter(out, make_settings())
    with pytest.raises(ValueError, match="rng must be one of"):
        make_settings(rng="mt19937")


def test_merge_refuses_to_mix_rng_schemes_but_not_modes(tmp_path):
    shards = [run_shard(tmp_path / f"shard_{k}.parquet", shard=k, num_shards=2) for k in range(2)]
    legacy = rewrite_settings(shards[1], tmp_path / "legacy.parquet", drop=("rng",))
    with pytest.raises(ValueError, match=r"shard .*legacy.parquet: rng 'block-v1' != 'philox-v1' in shard .*shard_0"):
        merge([shards[0], legacy], tmp_path / "out.parquet")
    fast = rewrite_settings(shards[1], tmp_path / "fast.parquet", fast=True)
    merged = merge([shards[0], fast], tmp_path / "out.parquet")
    assert [m["fast"] for m in read_settings(merged).merged_from] == [False, True]


def test_noise_space_is_recorded_and_older_tables_read_as_pixel(tmp_path):
    normalized = run_shard(tmp_path / "normalized.parquet", noise_space="normalized")
    assert read_settings(normalized).noise_space == "normalized"
    assert read_table(normalized).attrs["settings"]["noise_space"] == "normalized"
    # a table written before the field existed: its settings JSON has no noise_space
    old = pq.read_table(run_shard(tmp_path / "pixel.parquet"))
    meta = json.loads(old.schema.metadata[b"randsmooth.settings"])
    del meta["noise_space"]
    old = old.replace_schema_metadata({**old.schema.metadata, b"randsmooth.settings": json.dumps(meta).encode()})
    write_atomic(old, tmp_path / "old.parquet")
    assert read_settings(tmp_path / "old.parquet").noise_space == "pixel"
    with pytest.raises(ValueError, match=r"noise_space must be one of \['pixel', 'normalized'\]"):
        make_settings(noise_space="logit")


def test_merge_refuses_shards_of_different_noise_spaces(tmp_path):
    pixel = run_shard(tmp_path / "s0.parquet", shard=0, num_shards=2)
    normalized = run_shard(tmp_path / "s1.parquet", shard=1, num_shards=2, noise_space="normalized")
    with pytest.raises(ValueError, match=r"s1.parquet: noise_space 'normalized' != 'pixel'"):
        merge([pixel, normalized], tmp_path / "merged.parquet")
