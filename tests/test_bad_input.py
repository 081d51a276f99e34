"""Every documented user error, as a user meets it: one line on stderr, no traceback, no outputs.

Commands (``python -m randsmooth <command>``): the message is ``error: ...`` naming the argument or
file, the exit status is 2. Workflow configs (``snakemake -n`` from the repository root, as the
README says to run it): the message names the config key, and no job starts. Errors that
Snakemake reports itself before reading our config (a --configfile that does not exist or is not
YAML) are Snakemake's and are not listed here.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from randsmooth.counts import synthetic_table, write_table
from randsmooth.models import create_model, save_checkpoint

REPO = Path(__file__).resolve().parents[1]
CI = yaml.safe_load((REPO / "config" / "ci.yaml").read_text())


def run_in_process(main: Any, argv: list[str]) -> tuple[int, str]:
    """(exit status, stderr) of a command's ``main``."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


def one_error_line(stderr: str) -> str:
    """The single ``error:`` line of ``stderr`` (asserting there is exactly one and no traceback)."""
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr[-3000:]
    return errors[0]


# ------------------------------------------------------------------------- commands
@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inputs")
    torch.manual_seed(0)
    checkpoint = root / "digits.pt"
    save_checkpoint(
        checkpoint, model=create_model("digits_cnn", "digits"), arch="digits_cnn", dataset="digits", epoch=0
    )
    nan = root / "nan.pt"  # every weight NaN: NaN logits, which argmax would count as class 0
    broken_model = create_model("digits_cnn", "digits")
    with torch.no_grad():
        for parameter in broken_model.parameters():
            parameter.fill_(float("nan"))
    save_checkpoint(nan, model=broken_model, arch="digits_cnn", dataset="digits", epoch=0)
    cifar = root / "cifar.pt"
    save_checkpoint(
        cifar, model=create_model("cifar_resnet20", "cifar10"), arch="cifar_resnet20", dataset="cifar10", epoch=0
    )
    table = synthetic_table([0, 1], [[90, 10], [20, 80]], [[900, 100], [100, 900]], budgets=[100])
    counts = write_table(table, root / "counts.parquet")
    bare = root / "bare.parquet"
    table.to_parquet(bare)  # a table without the randsmooth metadata
    broken = table.copy()
    broken["counts_prefix"] = [[p[1], p[0]] for p in table["counts_prefix"]]  # not cumulative
    broken_path = root / "broken.parquet"
    broken.to_parquet(broken_path)
    recipe = root / "recipe.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "dataset": {"name": "digits"},
                "model": {"arch": "digits_cnn"},
                "noise": {"sigma": 0.25},
                "method": {"name": "gaussian"},
                "epochs": 1,
                "batch_size": 64,
                "optimizer": {"lr": 0.05},
                "schedule": {"name": "constant"},
                "workers": 0,
                "eval_examples": 20,
            }
        )
    )
    cost3 = root / "cost3.yaml"  # 3 x 3: on a table of more classes it would ignore the others
    cost3.write_text(yaml.safe_dump({"matrix": [[0, 1, 0], [0, 0, 1], [1, 0, 0]]}))
    pickled = root / "pickled.pt"
    torch.save({"arch": "digits_cnn", "state_dict": {}, "obj": torch.nn.ReLU()}, pickled)
    return {
        "checkpoint": checkpoint,
        "nan": nan,
        "cifar": cifar,
        "counts": counts,
        "bare": bare,
        "broken": broken_path,
        "recipe": recipe,
        "pickled": pickled,
        "cost3": cost3,
    }


CERTIFY = ["--dataset", "digits", "--sigma", "0.25", "--n0", "4", "--n", "20", "--stop", "2", "--device", "cpu"]
METRICS = ["--alpha", "0.001"]
# (name, command, arguments with {placeholders} from the files fixture and {out}, expected text)
COMMAND_ERRORS = [
    ("train: missing config", "train", ["--config", "{out}/nope.yaml", "--out", "{out}/m"], "nope.yaml"),
    ("train: bad key", "train", ["--config", "{bad_recipe}", "--out", "{out}/m"], "'optimizer.lr' must be"),
    (
        "certify: unknown option",
        "certify",
        ["--checkpoint", "{checkpoint}", "--bogus", "--out", "{out}/c.parquet"],
        "--bogus",
    ),
    (
        "certify: missing checkpoint",
        "certify",
        ["--checkpoint", "{out}/none.pt", *CERTIFY, "--out", "{out}/c.parquet"],
        "none.pt",
    ),
    (
        "certify: pickle refused",
        "certify",
        ["--checkpoint", "{pickled}", *CERTIFY, "--out", "{out}/c.parquet"],
        "never unpickled",
    ),
    (
        "certify: bad n",
        "certify",
        ["--checkpoint", "{checkpoint}", *CERTIFY, "--n", "0", "--out", "{out}/c.parquet"],
        "--n must be",
    ),
    (
        "certify: stop beyond split",
        "certify",
        ["--checkpoint", "{checkpoint}", *CERTIFY, "--stop", "9999", "--out", "{out}/c.parquet"],
        "exceeds the size",
    ),
    (
        "certify: wrong inputs",
        "certify",
        ["--checkpoint", "{cifar}", *CERTIFY[:-2], "--device", "cpu", "--out", "{out}/c.parquet"],
        "cifar.pt: the model does not accept",
    ),
    (
        "certify: bad noise",
        "certify",
        ["--checkpoint", "{checkpoint}", *CERTIFY, "--noise", "pareto", "--out", "{out}/c.parquet"],
        "'a'",
    ),
    (
        "certify: NaN weights",
        "certify",
        ["--checkpoint", "{nan}", *CERTIFY, "--out", "{out}/c.parquet"],
        "nan.pt: example 0: the model returned non-finite logits (NaN or inf) on 24 of its 24",
    ),
    (
        "certify: sigma 1e308",
        "certify",
        ["--checkpoint", "{checkpoint}", *CERTIFY, "--sigma", "1e308", "--out", "{out}/c.parquet"],
        "sigma must be at most 1e+06",
    ),
    (
        "certify: noise overflowing float32",
        "certify",
        [
            "--checkpoint",
            "{checkpoint}",
            *CERTIFY,
            "--noise",
            "expp",
            "--noise-param",
            "p=0.01",
            "--out",
            "{out}/c.parquet",
        ],
        "noisy inputs overflow float32",
    ),
    (
        "certify: seed beyond int64",
        "certify",
        ["--checkpoint", "{checkpoint}", *CERTIFY, "--seed", str(2**70), "--out", "{out}/c.parquet"],
        "seed must be an integer <= 2^63 - 1",
    ),
    (
        "soft-targets: NaN teacher",
        "soft-targets",
        ["--checkpoint", "{nan}", "--sigma", "0.25", "--num-samples", "2", "--out", "{out}/t.pt", "--device", "cpu"],
        "nan.pt: example 0: the model returned non-finite logits",
    ),
    ("merge: not a shard", "merge", ["{bare}", "--out", "{out}/m.parquet"], "bare.parquet"),
    ("check-counts: missing", "check-counts", ["{counts}", "{out}/none.parquet"], "none.parquet: no such file"),
    ("check-counts: corrupt", "check-counts", ["{counts}", "{broken}"], "broken.parquet"),
    (
        "metrics: alpha >= 0.5",
        "metrics",
        ["--table", "{counts}", "--alpha", "0.6", "--out-csv", "{out}/m.csv"],
        "alpha must be a number in (0, 0.5)",
    ),
    (
        "metrics: missing table",
        "metrics",
        ["--table", "{out}/none.parquet", *METRICS, "--out-csv", "{out}/m.csv"],
        "none.parquet",
    ),
    (
        "metrics: no metadata",
        "metrics",
        ["--table", "{bare}", *METRICS, "--out-csv", "{out}/m.csv"],
        "bare.parquet: missing or unsupported metadata",
    ),
    (
        "metrics: not cumulative",
        "metrics",
        ["--table", "{broken}", *METRICS, "--out-csv", "{out}/m.csv"],
        "broken.parquet",
    ),
    (
        "metrics: preset without data set",
        "metrics",
        ["--table", "{counts}", *METRICS, "--cost-preset", "s-seed", "--out-csv", "{out}/m.csv"],
        "--cost-dataset",
    ),
    (
        "metrics: 3 x 3 cost matrix on 2 classes",
        "metrics",
        ["--table", "{counts}", *METRICS, "--cost-config", "{cost3}", "--out-csv", "{out}/m.csv"],
        "cost3.yaml: cost matrix is 3 x 3 but the table has 2 classes",
    ),
    (
        "metrics: bad radii",
        "metrics",
        ["--table", "{counts}", *METRICS, "--radii", "a", "--out-csv", "{out}/m.csv"],
        "--radii",
    ),
    (
        "prepare-data: no ImageNet",
        "prepare-data",
        ["--name", "imagenet", "--root", "{out}/none", "--out", "{out}/d.json"],
        "none",
    ),
    (
        "summary: missing spec",
        "summary",
        ["--spec", "{out}/t.json", "--out-csv", "{out}/s.csv", "--out-md", "{out}/s.md"],
        "t.json",
    ),
    ("describe: bad config", "describe", ["--config", "{out}/nope.yaml"], "nope.yaml"),
    ("gpu-lease: no command", "gpu-lease", ["--gpu-count", "2"], "needs a COMMAND"),
    ("unknown command", "certifyy", [], "unknown command 'certifyy'"),
]


@pytest.mark.parametrize("name, command, arguments, expected", COMMAND_ERRORS, ids=[c[0] for c in COMMAND_ERRORS])
def test_command_user_error_is_one_line(
    files: dict[str, Path], tmp_path: Path, name: str, command: str, arguments: list[str], expected: str
) -> None:
    from randsmooth.__main__ import main

    bad_recipe = tmp_path / "bad.yaml"
    bad = yaml.safe_load(files["recipe"].read_text())
    bad["optimizer"]["lr"] = -1
    bad_recipe.write_text(yaml.safe_dump(bad))
    out = tmp_path / "out"
    out.mkdir()
    values = {key: str(path) for key, path in files.items()} | {"out": str(out), "bad_recipe": str(bad_recipe)}
    argv = [command, *(a.format(**values) for a in arguments)]
    code, stderr = run_in_process(main, argv)
    assert code == 2, stderr
    assert expected in one_error_line(stderr), stderr
    assert list(out.iterdir()) == [], "a failed command must not leave outputs"


def test_refused_resume_keeps_the_provenance(files: dict[str, Path], tmp_path: Path) -> None:
    """A resume refused because the config changed writes nothing: config.yaml still describes final.pt."""
    from randsmooth.cli.train import main

    out = tmp_path / "model"
    assert main(["--config", str(files["recipe"]), "--out", str(out), "--device", "cpu"]) == 0
    before = {name: (out / name).read_bytes() for name in ("config.yaml", "versions.json", "final.pt")}
    changed = yaml.safe_load(files["recipe"].read_text())
    changed["epochs"] = 2
    (tmp_path / "changed.yaml").write_text(yaml.safe_dump(changed))
    assert main(["--config", str(tmp_path / "changed.yaml"), "--out", str(out), "--device", "cpu"]) == 2
    assert {name: (out / name).read_bytes() for name in before} == before


def test_help_exits_zero() -> None:
    for command in ("gpu-lease", "certify", "metrics"):
        result = subprocess.run(
            [sys.executable, "-m", "randsmooth", command, "--help"], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0 and "usage:" in result.stdout, (command, result.stderr)
    listing = subprocess.run([sys.executable, "-m", "randsmooth", "--help"], capture_output=True, text=True)
    from randsmooth.cli import COMMANDS

    assert all(f"  {name} " in listing.stdout for name in COMMANDS), listing.stdout


# ----------------------------------------------------------------- workflow configs
def _ci(mutate: Any) -> Any:
    def make(tmp: Path) -> str:
        cfg = copy.deepcopy(CI)
        mutate(cfg)
        return yaml.safe_dump(cfg, sort_keys=False)

    return make


def _text(text: str) -> Any:
    return lambda tmp: text


CI_TEXT = (REPO / "config" / "ci.yaml").read_text()
# an alias bomb: nine levels of ten aliases each expand to 10^10 values when Snakemake hashes the config
BOMB = "x-bomb:\n  a0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n" + "".join(
    f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)
)
CONFIG_ERRORS = [
    ("unknown top-level key", _ci(lambda c: c.update(bogus=1)), "config key 'bogus' is not allowed (unknown key)"),
    ("bad value", _ci(lambda c: c["certify"]["gauss"].update(n0=0)), "config key 'certify/gauss/n0': 0 is less than"),
    (
        "alpha on a certify entry",
        _ci(lambda c: c["certify"]["gauss"].update(alpha=0.01)),
        "alpha moved to the paper tables",
    ),
    (
        "alpha too large",
        _ci(lambda c: c["papers"]["cohen2019"]["tables"]["digits"].update(alpha=0.6)),
        "tables/digits/alpha",
    ),
    (
        "duplicate key",
        _text(CI_TEXT.replace("  uniform: {model: uniform,", "  gauss: {model: uniform,")),
        "duplicate key 'gauss'",
    ),
    ("pareto without a", _ci(lambda c: c["models"]["gauss"].update(noise="pareto")), "'models/gauss/noise_params'"),
    (
        "pareto a = 1",
        _ci(lambda c: c["models"]["gauss"].update(noise="pareto", noise_params={"a": 1})),
        "'models/gauss/noise_params'",
    ),
    (
        "stop beyond the split",
        _ci(lambda c: c["certify"]["gauss"]["examples"].update(stop=1000)),
        "1000 is beyond the test split",
    ),
    (
        "more shards than examples",
        _ci(lambda c: c["certify"]["gauss"].update(shards=151)),
        "151 shards for only 150 examples",
    ),
    ("no papers", _ci(lambda c: c.pop("papers")), "'papers' is a required property"),
    ("alias bomb", _text(CI_TEXT + BOMB), "config key 'x-bomb/a4': expands to more than 100000 values (aliases)"),
    ("certify=5 on the command line", _text(CI_TEXT), "config key 'certify': 5 is not of type 'object'"),
    ("unknown model", _ci(lambda c: c["certify"]["gauss"].update(model="ghost")), "unknown models entry 'ghost'"),
    ("bad recipe", _ci(lambda c: c["recipes"]["tiny"].update(epochs=0)), "'recipes/tiny': config key 'epochs'"),
    (
        "unknown method",
        _ci(lambda c: c["models"]["gauss"].update(method={"name": "smoothadvv"})),
        "'models/gauss/method'",
    ),
]


# extra --config values of a dry run
OVERRIDES = {"certify=5 on the command line": ["certify=5"]}


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    """``snakemake -n --configfile BAD`` from the repository root, three at a time."""
    root = tmp_path_factory.mktemp("bad-configs")

    def one(case: tuple[str, Any, str]) -> tuple[Path, subprocess.CompletedProcess[str]]:
        name, make, _ = case
        folder = root / name.replace(" ", "_")
        folder.mkdir()
        config = folder / "config.yaml"
        config.write_text(make(folder))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))}
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        cmd = [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(config)]
        cmd += ["--config", f"results={folder / 'results'}", *OVERRIDES.get(name, [])]
        return folder, subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)

    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip([c[0] for c in CONFIG_ERRORS], pool.map(one, CONFIG_ERRORS), strict=True))


@pytest.mark.parametrize("name, make, expected", CONFIG_ERRORS, ids=[c[0] for c in CONFIG_ERRORS])
def test_config_error_is_one_line_before_any_job(dry_runs: Any, name: str, make: Any, expected: str) -> None:
    folder, result = dry_runs[name]
    assert result.returncode != 0
    line = one_error_line(result.stderr)
    assert expected in line and "config.yaml" in line, line
    assert "Building DAG" not in result.stdout + result.stderr  # nothing was planned, let alone run
    assert not (folder / "results").exists()


# Config files refused by the loader and the plan (randsmooth.pipeline.plan.load_workflow, which the
# workflow runs first and prints as one line, as the dry runs above show); tested in-process.
# Plain Snakemake reads --configfile files itself before the workflow does: an empty, list or scalar
# file gets its WorkflowError, a non-UTF-8 or 5,000-deep one its traceback, before our check; `python
# -m randsmooth snakemake ...` and `describe --config FILE` check such a file with one line (tested
# here and below).
LOAD_ERRORS = [
    (
        "NaN model sigma",
        _ci(lambda c: c["models"]["gauss"].update(sigma=float("nan"))),
        "'models/gauss/sigma': NaN is not a number",
    ),
    (
        "NaN certification sigma",
        _ci(lambda c: c["certify"]["gauss"].update(sigma=float("nan"))),
        "'certify/gauss/sigma': NaN is not a number",
    ),
    (
        "sigma 1e308",
        _ci(lambda c: c["certify"]["gauss"].update(sigma=1e308)),
        "'certify/gauss/sigma': 1e+308 is greater than the maximum",
    ),
    (
        "noise overflowing float32",
        _ci(lambda c: c["certify"]["gauss"].update(noise="expp", noise_params={"p": 0.01})),
        "'certify/gauss/noise_params': Expp(sigma=0.25, dim=64, p=0.01): noisy inputs overflow float32",
    ),
    (
        "unknown noise family",
        _ci(lambda c: c["certify"]["gauss"].update(noise="cauchy")),
        "'certify/gauss/noise': 'cauchy' is not one of ['exp1'",
    ),
    (
        "seed 2**70",
        _ci(lambda c: c["certify"]["gauss"].update(seed=2**70)),
        "'certify/gauss/seed': 1180591620717411303424 is greater than the maximum",
    ),
    (
        "n 10**30",
        _ci(lambda c: c["certify"]["gauss"].update(n=10**30)),
        "'certify/gauss/n': 1000000000000000000000000000000 is greater",
    ),
    ("certify a list", _ci(lambda c: c.update(certify=["x"])), "config key 'certify': ['x'] is not of type 'object'"),
    ("self-referencing alias", _text(CI_TEXT + "x-loop: &loop [*loop]\n"), "'x-loop/0': an alias refers to itself"),
    ("larger than 1 MiB", _text(CI_TEXT + "x-big: " + "a" * (1 << 20) + "\n"), "larger than 1 MiB"),
    (
        "3 x 3 cost matrix on 10 classes",
        _ci(
            lambda c: c["papers"]["xin2025"]["tables"]["digits"]["costs"].append(
                {"matrix": [[0, 1, 0], [0, 0, 1], [1, 0, 0]]}
            )
        ),
        "'papers/xin2025/tables/digits/costs/2': cost matrix 'cost2' is 3 x 3 but the table's runs are on digits",
    ),
    (
        "cohen2019 table without a run at vary_train_noise_sigma",
        _ci(lambda c: c["papers"]["cohen2019"]["tables"]["digits"]["options"].update(vary_train_noise_sigma=0.75)),
        "'papers/cohen2019/tables/digits/options/vary_train_noise_sigma': no run of the table is certified at",
    ),
    (
        "cohen2019 table without a run at high_prob_sigma",
        _ci(lambda c: c["papers"]["cohen2019"]["tables"]["digits"]["options"].update(high_prob_sigma=1.0)),
        "'papers/cohen2019/tables/digits/options/high_prob_sigma': no run of the table is certified at sigma = 1",
    ),
    ("empty file", _text(""), "is empty; a config is a mapping of keys"),
    ("a list", _text("[certify]\n"), "holds a list; a config is a mapping of keys"),
    ("a scalar", _text("5\n"), "holds the value 5; a config is a mapping of keys"),
    ("Latin-1 byte", _text(CI_TEXT.replace("# ", "# caf\xe9 ", 1)), "not UTF-8 text (byte 0xe9)"),
    ("5,000-deep nesting", _text("x-deep: " + "[" * 5000 + "]" * 5000 + "\n"), "nested deeper than 32 levels"),
    ("40-deep nesting", _text(CI_TEXT + "x-deep: " + "[" * 40 + "]" * 40 + "\n"), "'x-deep/0/0/0"),
]


@pytest.mark.parametrize("name, make, expected", LOAD_ERRORS, ids=[c[0] for c in LOAD_ERRORS])
def test_config_file_error_is_one_line(tmp_path: Path, name: str, make: Any, expected: str) -> None:
    from randsmooth.cli.describe import main
    from randsmooth.pipeline.plan import load_workflow

    config = tmp_path / "config.yaml"
    text = make(tmp_path)
    config.write_bytes(text.encode("latin-1") if "Latin-1" in name else text.encode("utf-8"))
    with pytest.raises(ValueError) as caught:
        load_workflow([config], {"results": str(tmp_path / "results")}, REPO)
    message = str(caught.value)
    assert "\n" not in message and expected in message and str(config) in message, message
    code, stderr = run_in_process(main, ["--config", str(config), "--schema", str(REPO / "config" / "schema.yaml")])
    assert code == 2 and expected in one_error_line(stderr), stderr
    assert not (tmp_path / "results").exists()


# files that plain `snakemake --configfile FILE` cannot load itself (WorkflowError without the file's
# name, a traceback, or minutes of loading a 50 MB file): the wrapper refuses each in one line
MALFORMED_FILES = [
    ("empty file", lambda: b"", "is empty; a config is a mapping of keys"),
    ("a list", lambda: b"- certify\n", "holds a list; a config is a mapping of keys"),
    ("a scalar", lambda: b"5\n", "holds the value 5; a config is a mapping of keys"),
    ("Latin-1 byte", lambda: b"results: caf\xe9\n", "line 1: not UTF-8 text (byte 0xe9)"),
    ("5,000-deep nesting", lambda: b"x-deep: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested deeper than 32 levels"),
    ("alias bomb", lambda: BOMB.encode(), "config key 'x-bomb/a4': expands to more than 100000 values (aliases)"),
    ("self-referencing alias", lambda: b"x-loop: &loop [*loop]\n", "'x-loop/0': an alias refers to itself"),
    ("50 MB", lambda: b"x-big: " + b"a" * (50 << 20) + b"\n", "larger than 1 MiB; a config is a short YAML file"),
]


@pytest.mark.parametrize("name, make, expected", MALFORMED_FILES, ids=[c[0] for c in MALFORMED_FILES])
def test_snakemake_wrapper_refuses_a_malformed_configfile(tmp_path: Path, name: str, make: Any, expected: str) -> None:
    """``python -m randsmooth snakemake -n --configfile GOOD BAD``: one line naming BAD, exit status
    2, before Snakemake (and so any job) starts."""
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(make())
    args = ["-n", "--cores", "1", "--configfile", "config/ci.yaml", str(bad), "--config", f"results={tmp_path / 'r'}"]
    result = subprocess.run(
        [sys.executable, "-m", "randsmooth", "snakemake", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr == f"error: {bad}: {result.stderr.split(': ', 2)[2]}" and result.stderr.count("\n") == 1
    assert expected in result.stderr and result.stdout == "", result.stderr
    assert not (tmp_path / "r").exists()


def test_snakemake_wrapper_runs_snakemake_after_the_check(tmp_path: Path) -> None:
    """Well-formed config files (from the arguments and from a profile) pass, and Snakemake runs
    with the same arguments; unparseable arguments are Snakemake's to report."""
    from randsmooth.cli.snakemake import configfiles

    assert configfiles(["--cores", "1", "all", "--configfile", "config/ci.yaml", "a.yaml"]) == [
        Path("config/ci.yaml"),
        Path("a.yaml"),
    ]
    assert configfiles(["--configfile=config/ci.yaml"]) == [Path("config/ci.yaml")]
    assert configfiles(["--no-such-option"]) == []
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.yaml").write_text(f"configfile: [{REPO / 'config' / 'ci.yaml'}]\n")
    assert configfiles(["--profile", str(profile)]) == [REPO / "config" / "ci.yaml"]
    cmd = [sys.executable, "-m", "randsmooth", "snakemake", "--configfile", "config/ci.yaml", "--version"]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    from snakemake import __version__

    assert result.returncode == 0 and result.stdout.strip() == __version__, result.stderr[-2000:]


def test_describe_handles_dev_null_and_a_closed_pipe() -> None:
    """``describe --config /dev/null`` is an empty file, not a missing one; ``describe | head``
    ends quietly (no BrokenPipeError traceback)."""
    from randsmooth.cli.describe import main

    code, stderr = run_in_process(main, ["--config", os.devnull, "--schema", str(REPO / "config" / "schema.yaml")])
    assert code == 2 and f"{os.devnull}: is empty" in one_error_line(stderr)
    shell = f"{sys.executable} -m randsmooth describe --config config/ci.yaml | head -n 1"
    result = subprocess.run(["bash", "-c", shell], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.stdout.startswith("kind\tname") and result.stderr == "", result.stderr


def test_metrics_spec_file_errors_name_the_file(tmp_path: Path, files: dict[str, Path]) -> None:
    from randsmooth.cli.metrics import main

    spec = tmp_path / "variant.json"
    spec.write_text(json.dumps({"alpha": 0.001, "norm": "l3"}))
    args = ["--table", str(files["counts"]), "--spec", str(spec), "--out-csv", str(tmp_path / "m.csv")]
    code, stderr = run_in_process(main, args)
    assert code == 2
    assert "variant.json: norm must be one of" in one_error_line(stderr)
    assert not (tmp_path / "m.csv").exists()


# ---------------------------------------------------------------------- full disks
def _limited(max_bytes: int) -> Any:
    """A preexec_fn: this process may write no file larger than ``max_bytes`` (EFBIG beyond)."""
    import resource

    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))


@pytest.mark.parametrize("command", ["metrics", "merge"])
def test_file_size_limit_is_one_line_and_leaves_no_output(files: dict[str, Path], tmp_path: Path, command: str) -> None:
    """Under a file-size limit (as on a full disk) a command fails with one line naming its outputs
    and leaves none of them: metrics writes csv, md and per-example file together or not at all."""
    out = tmp_path / "out"
    if command == "metrics":
        targets = [
            "--out-csv",
            str(out / "m.csv"),
            "--out-md",
            str(out / "m.md"),
            "--per-example",
            str(out / "p.parquet"),
        ]
        args = ["--table", str(files["counts"]), *METRICS, *targets]
    else:
        args = [str(files["counts"]), "--out", str(out / "merged.parquet")]
    result = subprocess.run(
        [sys.executable, "-m", "randsmooth", command, *args],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limited(2000),  # the csv fits, the parquet files do not
    )
    assert result.returncode == 2, result.stderr[-2000:]
    line = one_error_line(result.stderr)
    assert str(out) in line and "File too large" in line, line
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_one_line(files: dict[str, Path], tmp_path: Path) -> None:
    from randsmooth.cli.metrics import main

    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    code, stderr = run_in_process(main, ["--table", str(files["counts"]), *METRICS, "--out-csv", str(folder / "m.csv")])
    assert code == 2 and str(folder) in one_error_line(stderr) and "Permission denied" in stderr
    assert list(folder.iterdir()) == []


# ------------------------------------------------------------------ results folder lock
def test_results_folder_lock_holds_across_processes(tmp_path: Path) -> None:
    """A second Snakemake run (another clone: another process) into one results folder is refused
    with one line naming the holder; the lock goes with the holder's process."""
    from randsmooth.pipeline import lock

    results = tmp_path / "results"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from randsmooth.pipeline import lock; h = lock.acquire({str(results)!r}); "
            "print('held', flush=True); input()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(
            ValueError, match=rf"results folder {results} is in use by another Snakemake run \(pid {holder.pid} on"
        ):
            lock.acquire(results)
    finally:
        holder.communicate("\n", timeout=60)
    handle = lock.acquire(results)  # free again once the holder has exited
    handle.close()
