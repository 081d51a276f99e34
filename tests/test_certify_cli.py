"""End-to-end tests of ``python -m randsmooth certify`` / ``merge`` on tiny models and checkpoints,
including checkpoints in Cohen et al.'s published key layout (``1.*`` and ``1.module.*``)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

import randsmooth.data
from devices import needs_cuda
from randsmooth.__main__ import main as dispatch
from randsmooth.cli import certify as certify_cli
from randsmooth.cli.common import key_value, key_values
from randsmooth.cli.merge import main as merge_main
from randsmooth.counts import (
    common_budgets,
    estimation_counts,
    read_settings,
    read_table,
    samples_used,
    selection_counts,
)
from randsmooth.data import load_dataset
from randsmooth.engine import CountSampler, SamplerConfig
from randsmooth.models import create_model, save_checkpoint
from randsmooth.sampling import get_noise


@pytest.fixture(scope="module")
def digits_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("digits_cnn", "digits")
    path = tmp_path_factory.mktemp("ckpt") / "digits.pt"
    save_checkpoint(path, model=model, arch="digits_cnn", dataset="digits", epoch=0)
    return path


def certify_args(checkpoint, out, *extra):
    return [
        "--checkpoint",
        str(checkpoint),
        "--dataset",
        "digits",
        "--split",
        "test",
        "--sigma",
        "0.25",
        "--n0",
        "8",
        "--n",
        "150",
        "--batch",
        "50",
        "--stop",
        "7",
        "--device",
        "cpu",
        "--seed",
        "3",
        "--no-progress",
        "--out",
        str(out),
        *extra,
    ]


def without_time(df):
    return [
        [v.tolist() if isinstance(v, np.ndarray) else v for v in row]
        for row in df.drop(columns=["time_s"]).itertuples(index=False)
    ]


def test_certify_digits_end_to_end(digits_checkpoint, tmp_path):
    out = tmp_path / "single.parquet"
    assert certify_cli.main(certify_args(digits_checkpoint, out)) == 0
    df = read_table(out)
    data = load_dataset("digits", "test", augment=False)
    assert df["idx"].tolist() == list(range(7))
    assert df["label"].tolist() == [data[i][1] for i in range(7)]
    est = estimation_counts(df)[0]
    assert est.shape == (7, 10) and (est.sum(1) == 150).all()
    assert (selection_counts(df).sum(1) == 8).all()
    assert common_budgets(df) == [100, 150]
    digest = hashlib.sha256(digits_checkpoint.read_bytes()).hexdigest()[:16]
    assert set(df["model_id"]) == {f"digits.pt:{digest}"}
    settings = read_settings(out)
    assert (settings.dataset, settings.split, settings.device, settings.dim, settings.num_classes) == (
        "digits",
        "test",
        "cpu",
        64,
        10,
    )
    assert settings.checkpoint == str(digits_checkpoint) and settings.torch_version == torch.__version__
    # two shards with other batch sizes, merged through the dispatcher, give identical counts
    shards = []
    for k, batch in enumerate(("7", "1000")):
        shards.append(tmp_path / f"shard_{k}.parquet")
        args = certify_args(digits_checkpoint, shards[-1], "--shard", str(k), "--num-shards", "2")
        args[args.index("--batch") + 1] = batch
        assert dispatch(["certify", *args]) == 0
    merged = tmp_path / "merged.parquet"
    assert dispatch(["merge", "--out", str(merged), "--expect-count", "7", *map(str, shards)]) == 0
    assert without_time(read_table(merged)) == without_time(df)


def test_certify_records_rng_scheme_and_fast_mode(digits_checkpoint, tmp_path):
    default = tmp_path / "default.parquet"
    assert certify_cli.main(certify_args(digits_checkpoint, default)) == 0
    settings = read_settings(default)
    assert (settings.rng, settings.fast, settings.compile) == ("philox-v1", False, False)
    fast = tmp_path / "fast.parquet"
    assert certify_cli.main(certify_args(digits_checkpoint, fast, "--fast")) == 0
    assert read_settings(fast).fast is True
    assert without_time(read_table(fast)) == without_time(read_table(default))  # --fast is a no-op on the CPU
    legacy = tmp_path / "legacy.parquet"
    assert certify_cli.main(certify_args(digits_checkpoint, legacy, "--rng", "block-v1")) == 0
    assert read_settings(legacy).rng == "block-v1"
    assert without_time(read_table(legacy)) != without_time(read_table(default))


@needs_cuda
def test_certify_on_cuda_matches_the_cpu_up_to_near_ties(digits_checkpoint, tmp_path):
    """The counter-based noise is the same on both devices; only float rounding of the logits differs."""
    cpu, cuda = tmp_path / "cpu.parquet", tmp_path / "cuda.parquet"
    assert certify_cli.main(certify_args(digits_checkpoint, cpu)) == 0
    args = certify_args(digits_checkpoint, cuda, "--fast")
    args[args.index("--device") + 1] = "cuda"
    assert certify_cli.main(args) == 0
    settings = read_settings(cuda)
    assert settings.device.startswith("cuda") and settings.fast and settings.rng == "philox-v1"
    on_cpu, on_cuda = estimation_counts(read_table(cpu))[0], estimation_counts(read_table(cuda))[0]
    assert (on_cuda.sum(1) == 150).all() and np.abs(on_cuda - on_cpu).sum() <= 4
    assert (selection_counts(read_table(cuda)).sum(1) == 8).all()


def test_certify_with_noise_params_and_dataset_option(digits_checkpoint, tmp_path):
    out = tmp_path / "expinf.parquet"
    args = certify_args(
        digits_checkpoint,
        out,
        "--noise",
        "expinf",
        "--noise-param",
        "k=1",
        "--noise-param",
        "j=0",
        "--dataset-option",
        "seed=2",
        "--skip",
        "3",
    )
    assert certify_cli.main(args) == 0
    df = read_table(out)
    assert df["idx"].tolist() == [0, 3, 6]
    assert set(df["noise"]) == {"expinf"} and set(df["noise_params"]) == {'{"j": 0, "k": 1}'}
    assert read_settings(out).dataset_options == {"seed": 2}
    data = load_dataset("digits", "test", augment=False, seed=2)
    assert df["label"].tolist() == [data[i][1] for i in (0, 3, 6)]


def test_normalized_noise_space_radii_are_in_normalised_units(digits_checkpoint, tmp_path):
    """Noise added after Normalize at sigma s equals noise added before it at std * s (digits has one
    channel): the same counts, and every radius in normalised units is the pixel radius / std."""
    from randsmooth.data import dataset_spec
    from randsmooth.decide import certify

    std = dataset_spec("digits").std[0]
    pixel, normalized = tmp_path / "pixel.parquet", tmp_path / "normalized.parquet"
    args = certify_args(digits_checkpoint, pixel)
    args[args.index("--sigma") + 1] = repr(0.25 * std)
    assert certify_cli.main(args) == 0
    assert certify_cli.main(certify_args(digits_checkpoint, normalized, "--noise-space", "normalized")) == 0
    assert read_settings(pixel).noise_space == "pixel" and read_settings(normalized).noise_space == "normalized"
    np.testing.assert_array_equal(estimation_counts(read_table(pixel))[0], estimation_counts(read_table(normalized))[0])
    r_pixel = certify(read_table(pixel), 0.001)["radius"].to_numpy()
    r_normalized = certify(read_table(normalized), 0.001)["radius"].to_numpy()
    assert (r_pixel > 0).any()
    np.testing.assert_allclose(r_normalized * std, r_pixel, rtol=1e-12)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--noise-param", "k"], "argument --noise-param: expected KEY=VALUE, got 'k'"),
        (["--noise", "bogus"], "unknown noise name 'bogus'"),
        (["--noise", "expinf"], "missing parameter"),
        (["--shard", "2", "--num-shards", "2"], "--shard must be in [0, num_shards=2)"),
        (["--n", "0"], "--n must be an integer >= 1"),
        (["--sigma", "-1"], "--sigma must be a positive"),
        (["--stop", "100000"], "--stop 100000 exceeds the size of digits/test"),
        (["--dataset-option", "colour=1"], "unknown option(s) ['colour'] for dataset 'digits'"),
        (["--noise-space", "logit"], "argument --noise-space: invalid choice: 'logit'"),
    ],
)
def test_certify_argument_errors(digits_checkpoint, tmp_path, capsys, extra, message):
    out = tmp_path / "out.parquet"
    assert certify_cli.main(certify_args(digits_checkpoint, out, *extra)) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_certify_refuses_existing_output_and_bad_checkpoint(digits_checkpoint, tmp_path, capsys):
    out = tmp_path / "out.parquet"
    out.write_bytes(b"x")
    assert certify_cli.main(certify_args(digits_checkpoint, out)) == 2
    assert "already exists" in capsys.readouterr().err
    assert certify_cli.main(certify_args(tmp_path / "missing.pt", tmp_path / "o.parquet")) == 2
    assert "missing.pt: no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert certify_cli.main(certify_args(bad, tmp_path / "o.parquet")) == 2
    assert "bad.pt: not a readable torch checkpoint" in capsys.readouterr().err
    assert certify_cli.main(certify_args(digits_checkpoint, out, "--overwrite")) == 0
    assert len(read_table(out)) == 7


def test_parse_key_values():
    def parse_key_values(items, option):
        return key_values([key_value(item) for item in items], option)

    assert parse_key_values(["k=1", "j=0.5", "name=abc", "flag=true"], "--x") == {
        "k": 1,
        "j": 0.5,
        "name": "abc",
        "flag": True,
    }
    with pytest.raises(ValueError, match="--x k given twice"):
        parse_key_values(["k=1", "k=2"], "--x")


# ------------------------------------------------------------- Cohen et al.'s checkpoint layout
class FakeImages:
    """A few random [0, 1] images with labels, standing in for a data set we cannot download."""

    def __init__(self, shape, count, num_classes):
        gen = torch.Generator().manual_seed(0)
        self.items = [(torch.rand(shape, generator=gen), i % num_classes) for i in range(count)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def save_cohen_checkpoint(model, arch, path, data_parallel):
    """Cohen's layout: {'epoch', 'arch', 'state_dict', 'optimizer'}, keys 1.* or 1.module.*, no 0.mean/0.std."""
    prefix = "1.module." if data_parallel else "1."
    state = {prefix + key: value for key, value in model[1].state_dict().items()}
    torch.save(
        {"epoch": 90, "arch": arch, "state_dict": state, "optimizer": {"state": {}, "param_groups": [{"lr": 0.001}]}},
        path,
    )


@pytest.mark.parametrize(
    "arch, dataset, shape, n0, n, batch, stop",
    [
        ("cifar_resnet110", "cifar10", (3, 32, 32), 3, 9, 4, 2),
        ("resnet50", "imagenet", (3, 224, 224), 2, 4, 3, 1),
    ],
)
def test_certify_cohen_layout_checkpoint(tmp_path, monkeypatch, arch, dataset, shape, n0, n, batch, stop):
    torch.manual_seed(0)
    model = create_model(arch, dataset).eval()
    for module in model.modules():  # non-trivial BatchNorm statistics, so loading them matters
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    ckpt = tmp_path / "checkpoint.pth.tar"
    save_cohen_checkpoint(model, arch, ckpt, data_parallel=(arch == "resnet50"))
    spec = randsmooth.data.dataset_spec(dataset)
    fake = FakeImages(shape, 2, spec.num_classes)
    monkeypatch.setattr(randsmooth.data, "load_dataset", lambda *a, **k: fake)
    out = tmp_path / "cohen.parquet"
    args = [
        "--checkpoint",
        str(ckpt),
        "--dataset",
        dataset,
        "--sigma",
        "0.5",
        "--n0",
        str(n0),
        "--n",
        str(n),
        "--batch",
        str(batch),
        "--stop",
        str(stop),
        "--device",
        "cpu",
        "--no-progress",
        "--out",
        str(out),
    ]
    assert certify_cli.main(args) == 0
    df = read_table(out)
    assert df["idx"].tolist() == list(range(stop)) and set(df["num_classes"]) == {spec.num_classes}
    # the counts are those of the original model: the weights were really loaded
    config = SamplerConfig(n0=n0, n=n, batch=batch)
    sampler = CountSampler(model, get_noise("gaussian", 0.5, spec.dim), spec.num_classes, "cpu", config)
    for row in df.itertuples():
        expected = sampler.sample_example(fake[row.idx][0], fake[row.idx][1], row.idx)
        assert row.counts_estimation.tolist() == expected.counts_estimation.tolist()
        assert row.counts_selection.tolist() == expected.counts_selection.tolist()
    assert set(df["model_id"]) == {f"checkpoint.pth.tar:{hashlib.sha256(ckpt.read_bytes()).hexdigest()[:16]}"}


def test_merge_cli_reports_errors(digits_checkpoint, tmp_path, capsys):
    shard = tmp_path / "shard_0.parquet"
    args = certify_args(digits_checkpoint, shard, "--shard", "0", "--num-shards", "2")
    assert certify_cli.main(args) == 0
    assert merge_main(["--out", str(tmp_path / "m.parquet"), str(shard)]) == 2
    assert "missing indices [1, 3, 5]" in capsys.readouterr().err
    assert not (tmp_path / "m.parquet").exists()


def test_certify_refuses_a_hand_edited_run_file(digits_checkpoint, tmp_path, capsys):
    """A workflow's run.json edited by hand (n 1000 -> 500) would be sampled inside the folder named
    for n = 1000: refused with one line, nothing written; the file as written certifies."""
    import json

    from randsmooth.counts import RunSpec
    from randsmooth.pipeline.identity import run_key_of

    spec = RunSpec(dataset="digits", sigma=0.25, n0=8, n=1000, stop=2, model="digits-model")
    run_file = tmp_path / "certify" / run_key_of(spec) / "run.json"
    run_file.parent.mkdir(parents=True)
    run_file.write_text(json.dumps({**spec.file_dict(), "n": 500}))
    out = run_file.parent / "shard.parquet"
    args = ["--run", str(run_file), "--checkpoint", str(digits_checkpoint), "--device", "cpu", "--no-progress"]
    assert certify_cli.main([*args, "--out", str(out)]) == 2
    message = f"{run_file} does not match its folder key (edited by hand?): restore it or delete the folder"
    assert capsys.readouterr().err == f"error: {message}\n"
    assert sorted(p.name for p in run_file.parent.iterdir()) == ["run.json"]
    run_file.write_text(json.dumps(spec.file_dict()))
    assert certify_cli.main([*args, "--batch", "100", "--out", str(out)]) == 0
    assert read_settings(out).n == 1000 and read_settings(out).batch == 100


# ------------------------------------------------------------------------- sequential runs
SEQ = {"mode": "grid", "max_n": 600, "radii": [0.0, 0.1, 0.3], "norm": "l2", "alpha": 0.01, "first": 20, "ratio": 1.5}


def test_sequential_certify_shards_merge_resume_and_certificates(digits_checkpoint, tmp_path, capsys):
    import json

    from randsmooth import bounds, decide
    from randsmooth.counts import read_arrow
    from randsmooth.shards import ShardWriter

    seq_args = ("--n", "600", "--sequential", json.dumps(SEQ))
    assert dispatch(["certify", *certify_args(digits_checkpoint, tmp_path / "seq.parquet", *seq_args)]) == 0
    for shard in (0, 1):
        out = tmp_path / f"seq{shard}.parquet"
        extra = ("--num-shards", "2", "--shard", str(shard), "--batch", "37")
        assert dispatch(["certify", *certify_args(digits_checkpoint, out, *seq_args, *extra)]) == 0
    assert (
        merge_main(
            [str(tmp_path / "seq0.parquet"), str(tmp_path / "seq1.parquet"), "--out", str(tmp_path / "m.parquet")]
        )
        == 0
    )
    assert dispatch(["certify", *certify_args(digits_checkpoint, tmp_path / "fixed.parquet", "--n", "600")]) == 0

    df, merged, fixed = (read_table(tmp_path / f"{name}.parquet") for name in ("seq", "m", "fixed"))
    assert without_time(merged) == without_time(df)  # shards and batch size change nothing
    seq = df.attrs["settings"]["sequential"]
    assert seq["alpha"] == 0.01 and seq["radii"] == [0.0, 0.1, 0.3] and seq["bound"] == "cp"
    # a table recorded before spend_power existed was sampled spending alpha equally (power 0)
    import dataclasses

    settings = read_settings(tmp_path / "seq.parquet")
    legacy = {k: v for k, v in settings.sequential.items() if k != "spend_power"}
    assert settings.sequential["spend_power"] == 2.0
    assert dataclasses.replace(settings, sequential=legacy).sequential == {**settings.sequential, "spend_power": 0.0}
    samples = np.asarray([int(b[-1]) for b in df["prefix_budgets"]])
    assert (samples == [int(c.sum()) for c in df["counts_estimation"]]).all()
    assert (samples_used(df) == samples).all() and (samples_used(fixed) == 600).all()
    assert samples.min() < 600  # stopped early
    assert [c.tolist() for c in df["counts_selection"]] == [c.tolist() for c in fixed["counts_selection"]]
    full = samples == 600  # rows that ran to max N have the fixed-N counts
    assert [c.tolist() for c in df["counts_estimation"][full]] == [c.tolist() for c in fixed["counts_estimation"][full]]

    # certificates: the running max of per-checkpoint Clopper-Pearson bounds at alpha spent, at the stop
    cert = decide.certify(df, 0.01)
    cps = np.asarray(read_settings(tmp_path / "seq.parquet").prefix_budgets)
    spent = bounds.spend_alpha(0.01, cps.size, 0.55, 2.0)  # the default tuning
    for row, budgets, prefix, sel in zip(
        cert.itertuples(), df["prefix_budgets"], df["counts_prefix"], df["counts_selection"], strict=True
    ):
        k = np.asarray(prefix)[:, int(np.argmax(sel))]
        expected = max(float(bounds.cp_lower(int(k[t]), int(budgets[t]), float(spent[t]))) for t in range(len(budgets)))
        assert row.p_lower == pytest.approx(expected, rel=1e-12, abs=1e-15)
    for wrong in ({"alpha": 0.001}, {"alpha": 0.01, "norm": "l1"}, {"alpha": 0.01, "budget": 20}):
        with pytest.raises(ValueError, match="sequential run sampled for alpha=0.01"):
            decide.certify(df, **wrong)
    with pytest.raises(ValueError, match="sequential run"):
        estimation_counts(df)
    # the metrics read the certificates at the stop (no PREDICT at prefix budgets, no p_A estimate)
    from randsmooth import metrics
    from randsmooth.evaluate import MetricsSpec, evaluate

    long = evaluate(df, MetricsSpec(alpha=0.01, radii=(0.0, 0.1, 0.3))).long
    curve = long[long["metric"] == "certified_accuracy"]["value"].to_numpy()
    assert curve.tolist() == np.atleast_1d(metrics.certified_accuracy(cert, [0.0, 0.1, 0.3])).tolist()
    assert not long["metric"].str.startswith(("predict_", "pa_ccdf")).any()

    # resume: a progress file with some stopped examples, then the rest
    table, settings = read_arrow(tmp_path / "seq.parquet")
    from randsmooth.counts.io import _iter_records

    records = list(_iter_records(table, settings, "seq"))
    out = tmp_path / "resumed.parquet"
    with ShardWriter(out, settings) as writer:
        for rec in records[:3]:
            writer.append(rec)
    with ShardWriter(out, settings) as writer:
        assert writer.done == {r.idx for r in records[:3]}
        for rec in records[3:]:
            writer.append(rec)
        writer.finalize()
    assert without_time(read_table(out)) == without_time(df)


@pytest.mark.parametrize(
    ("sequential", "extra", "message"),
    [
        ({**SEQ, "max_n": 500}, (), "sequential.max_n 500 must equal n 600"),
        ({**SEQ, "mode": "fast"}, (), "sequential.mode must be one of"),
        ({k: v for k, v in SEQ.items() if k != "alpha"}, (), "sequential.alpha is required"),
        (SEQ, ("--rng", "block-v1"), "philox-v1"),
    ],
)
def test_sequential_certify_refuses_bad_settings(digits_checkpoint, tmp_path, capsys, sequential, extra, message):
    import json

    args = certify_args(
        digits_checkpoint, tmp_path / "s.parquet", "--n", "600", "--sequential", json.dumps(sequential), *extra
    )
    assert dispatch(["certify", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert not (tmp_path / "s.parquet").exists()
