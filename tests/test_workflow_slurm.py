"""The tiny CI config through the project's slurm profile on a real single-node SLURM cluster.

tests/slurm_cluster.py starts a loopback cluster (one node, one fake GPU) and merges the project's
workflow/profiles/slurm with the test overrides. Training, soft-target and certification jobs must
go through ``sbatch`` holding ``gpu=1`` (the fake GPU) while computing on the CPU (config/ci.yaml says
``device: cpu``); the local rules (data check, merge, metrics, summaries) run beside Snakemake.
The merged counts must equal those of a local run of the same config, and the cluster must be
stopped afterwards.

On the same cluster, a second test (marked slow: ``make test-slurm-chain``, which CI runs after the
default suite) trains one model whose config declares a one-minute
partition limit (``resources/max_minutes: 1``): the train rule asks sbatch for ``-t 1`` and passes
``train --time-budget`` 0.5 minutes (the reserve of :func:`randsmooth.pipeline.resources.time_budget`),
so a three-epoch training whose epochs take about 20 s pauses after each epoch (exit 75) and
Snakemake's retries resume it: three allocations, ending with a ``final.pt`` byte-identical to an
uninterrupted training of the same recipe. SLURM's wall time is whole minutes, so the epochs must be
that long; their size is calibrated on this machine first (``num_noise``), the uninterrupted
reference trains after the chain. The test cluster lets a job overrun its limit by
``OverTimeLimit`` minutes (tests/slurm_cluster.py), so a slow job start on a loaded machine does not
cut an allocation: every pause is the time budget's.

Skipped with the reason where the cluster cannot start (no root, no apt-get), but under CI=true it
must run: a missing cluster is then a failure.

Marked ``slurm`` (select with ``-m slurm``, deselect with ``-m "not slurm"``).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from randsmooth.counts import read_settings, read_table
from randsmooth.pipeline import commands, config
from randsmooth.pipeline.paths import Paths
from randsmooth.pipeline.plan import Plan
from slurm_cluster import SlurmUnavailable, local_slurm_cluster
from workflow_run import run_snakemake, snakemake_env

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
CI_CONFIG = REPO / "config" / "ci.yaml"
SCHEMA = REPO / "config" / "schema.yaml"
TIMEOUT_S = 900
CHAIN_EPOCHS = 3  # at least one epoch runs per allocation, so three epochs give at most three allocations
# Seconds per epoch aimed at: one allocation of a 1-minute limit trains for 30 s (time_budget(1)),
# so an epoch over ~15 s leaves room for one epoch only; under ~45 s, start-up and the epoch end
# before SLURM's limit. 22 s keeps the chain at one epoch per allocation for machines 1.4x faster
# or 1.8x slower than the calibration found.
CHAIN_EPOCH_S = 22.0
CALIBRATION_NOISE = 8  # noisy copies per image of the calibration epoch


def skip_or_fail(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but the SLURM test cluster is unavailable: {reason}")
    pytest.skip(f"SLURM test cluster unavailable: {reason}")


def snakemake(workdir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_snakemake(workdir, "--configfile", str(CI_CONFIG), *args, timeout=TIMEOUT_S, env=env)


def slurm_jobs() -> list[dict[str, str]]:
    """Every job of the test cluster, as key=value dicts (it keeps finished jobs for MinJobAge =
    tests/slurm_cluster.py's MIN_JOB_AGE_S, longer than any test run)."""
    out = subprocess.run(
        ["scontrol", "-o", "show", "jobs"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    jobs = []
    for line in out.splitlines():
        fields = dict(m.groups() for m in re.finditer(r"(\w[\w:/]*)=(\S*)", line))
        if fields:
            jobs.append(fields | {"_line": line})
    return jobs


def slurm_logs(workdir: Path) -> str:
    logs = sorted((workdir / ".snakemake" / "slurm_logs").rglob("*.log"))
    return "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-1500:]}" for p in logs)


def alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().split()[0])
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except (OSError, ValueError, IndexError):
        return False


def chain_config(path: Path, num_noise: int, epoch_minutes: float) -> Path:
    """A one-model config whose cluster has a 1-minute partition limit; ``epoch_minutes`` is the
    measured speed (minutes per epoch with one noisy copy), so the estimate needs three allocations."""
    cfg = {
        "results": "results/chain",
        "data_root": "data",
        "device": "cpu",
        "threads": 1,
        "resources": {
            "margin": 1.0,
            "min_minutes": 1,
            "max_minutes": 1,
            "digits": {"train": {"mem_mb": 500, "epoch_minutes": epoch_minutes}},
        },
        "datasets": {"digits": {"name": "digits"}},
        "recipes": {
            "chain": {
                "epochs": CHAIN_EPOCHS,
                "batch_size": 64,
                "num_noise": num_noise,
                "optimizer": {"lr": 0.05},
                "schedule": {"name": "constant"},
                "workers": 0,
            }
        },
        "models": {
            "chain": {
                "dataset": "digits",
                "arch": "digits_cnn",
                "arch_params": {"width": 32},
                "recipe": "chain",
                "noise": "gaussian",
                "sigma": 0.25,
            }
        },
        "certify": {"chain": {"model": "chain", "n0": 20, "n": 100, "examples": {"stop": 4}}},
        "papers": {"sun2025": {"tables": {"chain": {"runs": ["chain"], "radii": [0.0]}}}},  # target: train_all
    }
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def train_cmd(recipe: Path, out: Path) -> list[str]:
    """The train rule's command without a time budget (one thread, as the rule's OMP_NUM_THREADS)."""
    return [sys.executable, "-m", "randsmooth", "train", "--config", str(recipe), "--out", str(out), "--device", "cpu"]


def train_env() -> dict[str, str]:
    return {**snakemake_env(), "OMP_NUM_THREADS": "1"}


def recipe_of(cfg_path: Path, directory: Path) -> Path:
    """The model's recipe.json as the workflow writes it."""
    plan = Plan(config.load(cfg_path, SCHEMA))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "recipe.json"
    path.write_text(commands.recipe_json(plan, plan.model_names["chain"]), encoding="utf-8")
    return path


def calibrate(tmp_path: Path) -> tuple[int, float]:
    """(num_noise, epoch_minutes): noisy copies per image for epochs of about CHAIN_EPOCH_S seconds
    on this machine, from one epoch at CALIBRATION_NOISE copies, and the speed it implies."""
    cfg = chain_config(tmp_path / "calibrate.yaml", CALIBRATION_NOISE, 1.0)
    recipe = json.loads(recipe_of(cfg, tmp_path / "calibrate").read_text())
    recipe["epochs"] = 1
    path = tmp_path / "calibrate" / "one_epoch.json"
    path.write_text(json.dumps(recipe), encoding="utf-8")
    out = tmp_path / "calibrate" / "out"
    subprocess.run(train_cmd(path, out), env=train_env(), check=True, capture_output=True, timeout=300)
    with open(out / "log.csv", encoding="utf-8") as handle:
        seconds = float(list(csv.DictReader(handle))[-1]["time_s"])
    num_noise = max(1, round(CALIBRATION_NOISE * CHAIN_EPOCH_S / seconds))
    return num_noise, seconds / CALIBRATION_NOISE / 60


def job_log(job: dict[str, str]) -> str:
    try:
        return Path(job.get("StdOut", "")).read_text(errors="replace")
    except OSError:
        return ""


def by_rule(jobs: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    """Jobs by rule (the plugin writes each job's log to .snakemake/slurm_logs/rule_<rule>/...)."""
    out: dict[str, list[dict[str, str]]] = {}
    for job in jobs:
        match = re.search(r"/slurm_logs/rule_([^/]+)/", job.get("StdOut", ""))
        out.setdefault(match.group(1) if match else "?", []).append(job)
    return out


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The loopback cluster, shared by this module's tests; stopped again afterwards."""
    root = tmp_path_factory.mktemp("cluster")
    with contextlib.ExitStack() as stack:
        try:
            running = stack.enter_context(local_slurm_cluster(root))
        except SlurmUnavailable as exc:
            skip_or_fail(str(exc))
        yield running
    for daemon in ("slurmctld", "slurmd"):
        assert not alive(root / "run" / f"{daemon}.pid"), f"{daemon} still running"


def test_ci_config_through_slurm(cluster: Any, tmp_path: Path) -> None:
    plan = Plan(config.load(CI_CONFIG, SCHEMA))
    paths = Paths(plan.results)
    slurm_dir = tmp_path / "slurm"
    started = time.monotonic()
    result = snakemake(slurm_dir, cluster.env, "--profile", str(cluster.profile))
    context = (
        f"snakemake exit {result.returncode} after {time.monotonic() - started:.0f} s\n"
        f"{(result.stdout + result.stderr)[-4000:]}\n{slurm_logs(slurm_dir)}\n{cluster.log_tail()}"
    )
    assert result.returncode == 0, context

    # training, soft targets and certification went through sbatch, each holding the (fake) GPU
    jobs = slurm_jobs()
    ci_jobs = by_rule([j for j in jobs if Path(j.get("WorkDir", "")).resolve() == slurm_dir.resolve()])
    gpu_rules = {
        "train": len(plan.used_models()),
        "soft_targets": len({plan.models[m].soft_targets for m in plan.used_models()} - {None}),
        "certify_shard": sum(plan.run(k).shards for k in plan.used_runs()),
    }
    assert set(ci_jobs) == set(gpu_rules), "only the GPU rules are submitted; the others are local rules"
    for rule, count in gpu_rules.items():
        assert len(ci_jobs[rule]) == count, f"{rule}: {[j['_line'] for j in jobs]}"
        for job in ci_jobs[rule]:
            assert job["JobState"] == "COMPLETED", job["_line"]
            assert job["Partition"] == "debug", job["_line"]
            assert "TresPerJob=gres:gpu:1" in job["_line"] or "gres/gpu=1" in job["_line"], job["_line"]

    # ... and computed on the CPU; the merged counts equal those of a local run (up to the counts)
    local_dir = tmp_path / "local"
    ci_profile = str(REPO / "workflow" / "profiles" / "ci")
    local = snakemake(local_dir, snakemake_env(), "--profile", ci_profile, "certify_all")
    assert local.returncode == 0, (local.stdout + local.stderr)[-4000:]
    for key in plan.used_runs():
        counts = paths.counts.format(run=key)
        settings = read_settings(slurm_dir / counts)
        assert {shard["device"] for shard in settings.merged_from} == {"cpu"}
        remote, here = read_table(slurm_dir / counts), read_table(local_dir / counts)
        assert remote["idx"].tolist() == here["idx"].tolist()
        for column in ("counts_selection", "counts_estimation", "counts_prefix"):
            assert all(np.array_equal(a, b) for a, b in zip(remote[column], here[column], strict=True)), (key, column)
    for target in paths.final_targets(plan):
        assert (slurm_dir / target).is_file(), target


@pytest.mark.slow
def test_time_limit_chain_through_slurm(cluster: Any, tmp_path: Path) -> None:
    """Three allocations of 1 minute: the first two pause on their time budget (exit 75), the last
    completes, and the weights equal an uninterrupted training's (marked slow: about 6 minutes;
    `make test-slurm-chain`, which CI runs after the default suite)."""
    num_noise, epoch_minutes = calibrate(tmp_path)  # the chained training's epoch size on this machine
    chain_cfg = chain_config(tmp_path / "chain.yaml", num_noise, epoch_minutes)
    chain_dir = tmp_path / "chain"
    started = time.monotonic()
    chained = run_snakemake(
        chain_dir,
        *("--configfile", str(chain_cfg), "--profile", str(cluster.profile), "--retries", "4", "train_all"),
        timeout=TIMEOUT_S,
        env=cluster.env,
    )
    context = (
        f"chain: snakemake exit {chained.returncode} after {time.monotonic() - started:.0f} s, "
        f"num_noise {num_noise}\n{(chained.stdout + chained.stderr)[-4000:]}\n{slurm_logs(chain_dir)}"
    )
    assert chained.returncode == 0, context
    # the uninterrupted reference (no time budget: not under SLURM), after the chain so that it does
    # not slow the calibrated epochs down
    reference_recipe = recipe_of(chain_cfg, tmp_path / "reference")
    reference_out = tmp_path / "reference" / "out"
    subprocess.run(
        train_cmd(reference_recipe, reference_out), env=train_env(), check=True, capture_output=True, timeout=TIMEOUT_S
    )

    chain_jobs = by_rule([j for j in slurm_jobs() if Path(j.get("WorkDir", "")).resolve() == chain_dir.resolve()])
    chain = sorted(chain_jobs.get("train", []), key=lambda j: int(j["JobId"]))
    lines = "\n".join(j["_line"] for j in chain)
    assert len(chain) == CHAIN_EPOCHS and set(chain_jobs) == {"train"}, lines
    assert all(j["TimeLimit"] == "00:01:00" for j in chain), lines
    assert [j["JobState"] for j in chain] == ["FAILED", "FAILED", "COMPLETED"], lines
    for job in chain[:-1]:
        assert "returned non-zero exit status 75" in job_log(job), job_log(job)[-3000:]
    assert "warning: under SLURM" not in chained.stderr  # --retries 4 covers the 3 allocations
    chain_plan = Plan(config.load(chain_cfg, SCHEMA))
    key = chain_plan.model_names["chain"]
    chain_paths = Paths(chain_plan.results)
    recipe = json.loads((chain_dir / chain_paths.recipe.format(model=key)).read_text())
    assert recipe == json.loads(reference_recipe.read_text())  # the same recipe
    weights = chain_dir / chain_paths.weights.format(model=key)
    assert len((weights.parent / "log.csv").read_text().splitlines()) == 1 + CHAIN_EPOCHS
    assert weights.read_bytes() == (reference_out / "final.pt").read_bytes()
