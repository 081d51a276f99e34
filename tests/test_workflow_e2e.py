"""End to end on the tiny CI config, on the CPU: every rule runs, a run killed during certification
resumes (only the unfinished shards run again, the interrupted one from its progress file), outputs
are complete, the report builds, and failures give clear errors.

One pipeline run serves most checks (it takes about 1.5 minutes on 2 cores):

* it uses config/ci.yaml with hostile names -- a results folder, data folder, GPU lock folder and
  model/run names containing spaces, quotes, ``;``, ``$(...)`` -- which must reach the commands
  verbatim and never execute anything;
* it is started as the README says (``snakemake --cores all --configfile ...``, no profile), and
  SIGKILLed (Snakemake and every job process) once one shard is finished and another has written
  progress rows; then the README's recovery runs exactly as documented: ``snakemake --unlock``,
  then the same command;
* the interrupted shard is compared with an uninterrupted certification of the same shard.
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from randsmooth.counts import read_table
from randsmooth.pipeline.config import validate
from randsmooth.pipeline.paths import Paths
from randsmooth.pipeline.plan import Plan
from randsmooth.shards import PROGRESS_SUFFIX

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
SCHEMA = REPO / "config" / "schema.yaml"
CI_CONFIG = REPO / "config" / "ci.yaml"
CI_PROFILE = REPO / "workflow" / "profiles" / "ci"
RUN_TIMEOUT_S = 420
SETTLE_S = 2.0
HOSTILE = " a'b; touch INJECTED $(touch INJECTED2) `touch INJECTED3`"


def snakemake_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def snakemake_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), *args]


def run(workdir: Path, *args: str, timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    cmd = ["timeout", "-k", "10", str(int(timeout)), *snakemake_cmd(*args)]
    return subprocess.run(
        cmd,
        cwd=workdir,
        env=snakemake_env(),
        capture_output=True,
        text=True,
        timeout=timeout + 30,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def hostile_config(tmp: Path) -> dict[str, Any]:
    """config/ci.yaml with hostile folder and entry names (same models and runs, so same keys)."""
    cfg = yaml.safe_load(CI_CONFIG.read_text())
    cfg["results"] = "res" + HOSTILE
    cfg["data_root"] = str(tmp / ("data" + HOSTILE))
    # exercise the gpu-lease wrapper (a no-op without a GPU); on a GPU machine stay on the CPU, where
    # shards are slow enough to be caught in progress
    cfg["device"] = "cpu" if _has_gpu() else "auto"
    cfg["gpu"] = {"lock_dir": str(tmp / ("locks" + HOSTILE))}
    rename = {"gauss": "gauss" + HOSTILE}
    cfg["models"] = {rename.get(k, k): v for k, v in cfg["models"].items()}
    cfg["certify"] = {rename.get(k, k): v for k, v in cfg["certify"].items()}
    for run_cfg in cfg["certify"].values():
        run_cfg["model"] = rename.get(run_cfg["model"], run_cfg["model"])
    for paper in cfg["papers"].values():
        for table in paper["tables"].values():
            table["runs"] = [rename.get(r, r) for r in table["runs"]]
    cfg["papers"]["xin2025"]["tables"]["digits"]["costs"][0]["name"] = "digit 3 -> 5" + HOSTILE
    return cfg


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def descendants(pid: int) -> list[int]:
    """All live descendants of ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def kill_tree(proc: subprocess.Popen[str]) -> None:
    """SIGKILL Snakemake and every process it started (jobs run in their own sessions)."""
    victims = [proc.pid, *descendants(proc.pid)]
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)


def shard_state(results: Path) -> tuple[dict[Path, float], list[Path]]:
    """(finished shard -> mtime, progress files with at least one row of a running shard)."""
    finished = {p: p.stat().st_mtime for p in results.glob("certify/*/shards/*.parquet")}
    running = []
    for progress in results.glob(f"certify/*/shards/*{PROGRESS_SUFFIX}"):
        parquet = progress.with_name(progress.name[: -len(PROGRESS_SUFFIX)])
        try:
            lines = progress.read_text().count("\n")
        except OSError:
            continue
        if lines >= 2 and not parquet.exists():
            running.append(progress)
    return finished, running


def job_counts(output: str) -> dict[str, int]:
    lines = output.splitlines()
    if "Job stats:" not in lines:
        return {}
    counts = {}
    for line in lines[lines.index("Job stats:") + 3 :]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run, kill during certification, unlock, rerun; return what the tests need."""
    tmp = tmp_path_factory.mktemp("e2e")
    workdir = tmp / "work"
    workdir.mkdir()
    cfg = hostile_config(tmp)
    config_path = tmp / "config.yaml"
    config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    plan = Plan(validate(copy.deepcopy(cfg), SCHEMA))
    results = workdir / plan.results
    args = ("--cores", "all", "--configfile", str(config_path))  # the README's command, no profile

    started = time.monotonic()
    proc = subprocess.Popen(
        snakemake_cmd(*args),
        cwd=workdir,
        env=snakemake_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    finished: dict[Path, float] = {}
    running: list[Path] = []
    seen: dict[Path, float] = {}  # shard -> when its file first appeared
    unsettled: set[Path] = set()
    try:
        while time.monotonic() - started < RUN_TIMEOUT_S and proc.poll() is None:
            finished, running = shard_state(results)
            now = time.monotonic()
            seen.update({path: now for path in finished if path not in seen})
            # Jobs run two at a time: wait until Snakemake has surely registered a finished shard
            # (a shard cut off between writing its file and being registered runs again).
            settled = {path: mtime for path, mtime in finished.items() if now - seen[path] >= SETTLE_S}
            if settled and running:
                finished, unsettled = settled, set(finished) - set(settled)
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            kill_tree(proc)
    first_output = proc.stdout.read() if proc.stdout else ""
    assert finished and running, f"could not catch a shard in progress:\n{first_output[-3000:]}"
    rows_before = {p: p.read_text().count("\n") - 1 for p in running}
    models = {p: p.stat().st_mtime for p in results.glob("models/*/final.pt")}
    training = [p.parent for p in results.glob("models/*/checkpoint.pt") if not (p.parent / "final.pt").exists()]

    unlock = run(workdir, "--unlock")  # the README's recovery, exactly
    assert unlock.returncode == 0, unlock.stderr[-3000:]
    rerun = run(workdir, *args)
    return {
        "tmp": tmp,
        "workdir": workdir,
        "config": config_path,
        "args": args,
        "plan": plan,
        "paths": Paths(str(workdir / plan.results)),
        "results": results,
        "finished": finished,
        "unsettled": unsettled,
        "interrupted": running,
        "rows_before": rows_before,
        "models": models,
        "training": training,
        "first_output": first_output,
        "rerun": rerun,
    }


def test_rerun_succeeds_and_nothing_was_injected(pipeline: dict[str, Any]) -> None:
    rerun = pipeline["rerun"]
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-4000:]
    injected = [p for p in pipeline["tmp"].rglob("INJECTED*")]
    assert injected == []


def test_every_rule_is_exercised(pipeline: dict[str, Any]) -> None:
    planned = job_counts(pipeline["first_output"])
    assert set(planned) == {
        "prepare_data",
        "model_recipe",
        "run_settings",
        "train",
        "certify_shard",
        "merge",
        "metrics_variant",
        "metrics",
        "paper_tables",
        "paper_summary",
        "summary",
        "all",
    }, planned


def test_only_unfinished_work_reruns(pipeline: dict[str, Any]) -> None:
    rerun = pipeline["rerun"]
    counts = job_counts(rerun.stdout + rerun.stderr)
    plan = pipeline["plan"]
    total_shards = sum(plan.run(k).shards for k in plan.used_runs())
    rerun_shards = total_shards - len(pipeline["finished"])
    assert rerun_shards - len(pipeline["unsettled"]) <= counts.get("certify_shard") <= rerun_shards, counts
    # a model still training at the kill trains again (resuming from its checkpoint); no other one
    assert counts.get("train", 0) == len(plan.used_models()) - len(pipeline["models"]), counts
    for rule in ("model_recipe", "prepare_data"):
        assert rule not in counts, counts
    for path, mtime in {**pipeline["finished"], **pipeline["models"]}.items():
        assert path.stat().st_mtime == mtime, f"{path} was recomputed"


def test_interrupted_training_resumed_from_its_checkpoint(pipeline: dict[str, Any]) -> None:
    """A model killed after an epoch's checkpoint continues from it (often none is caught)."""
    paths = pipeline["paths"]
    for folder in pipeline["training"]:
        log = Path(paths.log("train", f"{folder.name}.log")).read_text()
        assert re.search(r"resuming .*checkpoint\.pt after epoch \d+ of 2", log), log[-2000:]


def test_interrupted_shard_resumed_from_its_progress_file(pipeline: dict[str, Any]) -> None:
    paths, results = pipeline["paths"], pipeline["results"]
    for progress in pipeline["interrupted"]:
        assert not progress.exists()
        run_key, shard = progress.parent.parent.name, progress.name.split(".")[0]
        log = Path(paths.log("certify_shard", f"{run_key}/{shard}.log")).read_text()
        match = re.search(r"resuming, (\d+) of (\d+) examples already done", log)
        assert match, log[-2000:]
        assert int(match.group(1)) >= min(1, pipeline["rows_before"][progress])
    assert not list(results.rglob(f"*{PROGRESS_SUFFIX}"))


def test_every_output_exists_and_is_complete(pipeline: dict[str, Any]) -> None:
    plan, paths = pipeline["plan"], pipeline["paths"]
    for target in paths.final_targets(plan):
        assert Path(target).is_file(), target
    for key in plan.used_runs():
        table = read_table(paths.counts.format(run=key))
        assert table["idx"].tolist() == list(range(0, 450, 3))
        assert (np.stack(table["counts_estimation"]).sum(axis=1) == 2000).all()
        for shard in range(plan.run(key).shards):
            assert Path(paths.log("certify_shard", f"{key}/{shard}.log")).is_file()
            assert Path(paths.benchmark("certify_shard", f"{key}/{shard}.tsv")).is_file()
    for key in plan.used_models():
        assert Path(paths.benchmark("train", f"{key}.tsv")).is_file()
        assert Path(paths.log("train", f"{key}.log")).is_file()
    summary = Path(paths.summary_csv).read_text()
    assert "gauss" + HOSTILE in summary  # names reach the tables verbatim
    specs = [json.loads(p.read_text()) for p in pipeline["results"].glob("certify/*/metrics/*.json")]
    assert "digit 3 -> 5" + HOSTILE in {spec.get("cost", {}).get("name") for spec in specs}


def test_resumed_shard_equals_an_uninterrupted_one(pipeline: dict[str, Any], tmp_path: Path) -> None:
    """Certify the interrupted shard again from scratch, outside the workflow, and compare counts."""
    plan, paths = pipeline["plan"], pipeline["paths"]
    progress = pipeline["interrupted"][0]
    run_key, shard = progress.parent.parent.name, int(progress.name.split(".")[0])
    reference = tmp_path / "reference.parquet"
    run = plan.run(run_key)
    cmd = [
        *(sys.executable, "-m", "randsmooth", "certify", "--run", paths.run_settings.format(run=run_key)),
        *("--checkpoint", paths.weights.format(model=run.model_key), "--data-root", run.dataset.root),
        *("--shard", str(shard), "--batch", "123", "--device", "cpu", "--no-progress", "--out", str(reference)),
    ]
    subprocess.run(cmd, env=snakemake_env(), check=True, capture_output=True, timeout=300)
    expected = read_table(reference)
    merged = read_table(paths.counts.format(run=run_key)).set_index("idx").loc[expected["idx"]]
    for column in ("counts_selection", "counts_estimation", "counts_prefix"):
        assert all(np.array_equal(a, b) for a, b in zip(expected[column], merged[column], strict=True)), column


def test_report_builds(pipeline: dict[str, Any]) -> None:
    report = pipeline["results"] / "report.zip"
    result = run(pipeline["workdir"], "--configfile", str(pipeline["config"]), "--report", str(report))
    assert result.returncode == 0, result.stderr[-3000:]
    names = zipfile.ZipFile(report).namelist()
    assert sum(name.endswith("summary.csv") for name in names) == 1 + len(pipeline["plan"].papers)
    assert any(name.endswith(".csv") and "summary" not in name for name in names)


def test_nothing_left_to_do(pipeline: dict[str, Any]) -> None:
    result = run(pipeline["workdir"], *pipeline["args"], "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_corrupt_shard_is_a_clear_error(pipeline: dict[str, Any]) -> None:
    plan, paths = pipeline["plan"], pipeline["paths"]
    key = plan.used_runs()[0]
    shard = Path(paths.shard.format(run=key, shard=0))
    shard.write_bytes(b"this is not parquet")
    result = run(pipeline["workdir"], *pipeline["args"])
    assert result.returncode != 0
    log = Path(paths.log("merge", f"{key}.log")).read_text()
    assert "not a readable Parquet file" in log and str(shard.name) in log, log[-2000:]
    assert len([line for line in log.splitlines() if line.startswith("error: ")]) == 1, log[-2000:]
    assert not Path(paths.counts.format(run=key)).exists()


# ----------------------------------------------------------------- other failures
def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_missing_data_set_is_a_clear_error(tmp_path: Path) -> None:
    cfg = yaml.safe_load(CI_CONFIG.read_text())
    cfg["datasets"]["digits"] = {"name": "imagenet", "root": str(tmp_path / "no imagenet here")}
    result = run(tmp_path, "--profile", str(CI_PROFILE), "--configfile", str(write_config(tmp_path / "c.yaml", cfg)))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Error in rule prepare_data" in output, output[-3000:]
    assert "no imagenet here" in output  # show-failed-logs prints the one-line error


def test_gpu_required_config_fails_fast_without_a_gpu(tmp_path: Path) -> None:
    if _has_gpu():
        pytest.skip("this machine has a GPU")
    cfg = yaml.safe_load(CI_CONFIG.read_text())
    cfg["device"] = "cuda"
    started = time.monotonic()
    result = run(tmp_path, "--profile", str(CI_PROFILE), "--configfile", str(write_config(tmp_path / "c.yaml", cfg)))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Error in rule train" in output, output[-3000:]
    assert "no CUDA device is visible" in output
    assert time.monotonic() - started < 120
