"""Snakemake profiles, and a real SLURM run of a tiny workflow through the project's slurm profile.

The fast tests check every profile (keys, values, and that Snakemake accepts it in a dry run).
The ``slurm`` test starts a single-node cluster (tests/slurm_cluster.py), runs a throwaway
three-rule workflow with the project's slurm profile merged with the loopback overrides, and
checks that every job went through sbatch, that the GPU rules got the fake GPU, and that a
failed first attempt is retried with attempt-scaled resources. Without root/apt-get the test is
skipped, except under CI=true, where it fails.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from slurm_cluster import (
    LOOPBACK_OVERLAY,
    PROFILE_FILE,
    PROJECT_SLURM_PROFILE,
    REPO_ROOT,
    LocalSlurmCluster,
    SlurmUnavailable,
    load_profile,
    local_slurm_cluster,
    merge_profiles,
    snakemake_env,
    write_merged_profile,
)

PROFILES = REPO_ROOT / "workflow" / "profiles"
GPU_RULES = ("train", "certify_shard")
SNAKEMAKE_TIMEOUT_S = 300  # the workflow below needs about a minute on the test cluster

# `train` asks for the GPU itself; `certify_shard` gets it only from the profile's set-resources.
# `summarize` is a CPU job that runs beside `certify_shard` (the node has 2 CPUs, 1 fake GPU);
# its first attempt fails on purpose (mem_mb is "500 * attempt" in the test profile), so that
# retries with attempt-scaled resources are exercised. Three rounds of SLURM jobs in all.
THROWAWAY_SNAKEFILE = r'''
RECORD = ("echo job=${{SLURM_JOB_ID:-}} gpu=${{CUDA_VISIBLE_DEVICES:-}}"
          " partition=${{SLURM_JOB_PARTITION:-}}")

rule all:
    input: "certify.txt", "summary.txt"

rule train:
    output: "train.txt"
    resources: gpu=1
    shell: RECORD + " > {output}"

rule certify_shard:
    input: "train.txt"
    output: "certify.txt"
    shell: RECORD + " > {output}"

rule summarize:
    input: "train.txt"
    output: "summary.txt"
    params:  # resources.get: the local and ci profiles have no mem_mb/runtime
        mem_mb=lambda wildcards, resources: resources.get("mem_mb", 0),
        runtime=lambda wildcards, resources: resources.get("runtime", 0),
    shell:
        """
        if [ {params.mem_mb} -lt 1000 ]; then echo "first attempt fails on purpose" >&2; exit 1; fi
        echo job=${{SLURM_JOB_ID:-}} gpu=${{CUDA_VISIBLE_DEVICES:-}} \\
            mem_mb={params.mem_mb} runtime={params.runtime} > {output}
        """
'''


def write_snakefile(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "Snakefile"
    path.write_text(THROWAWAY_SNAKEFILE, encoding="utf-8")
    return path


def record(path: Path) -> dict[str, str]:
    """Parse the ``key=value`` words a rule wrote into its output."""
    words = path.read_text(encoding="utf-8").split()
    return dict(word.split("=", 1) for word in words)


def run_snakemake(
    workdir: Path, args: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run Snakemake in ``workdir`` under ``timeout -k`` (and a Python-side timeout)."""
    cmd = ["timeout", "-k", "10", str(int(timeout)), sys.executable, "-m", "snakemake", *args]
    return subprocess.run(
        cmd,
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout + 30,
        stdin=subprocess.DEVNULL,
    )


def dry_runs(root: Path, cases: dict[str, tuple[Path, dict[str, str]]]) -> dict[str, str]:
    """``snakemake --profile PROFILE -n`` on the throwaway workflow, all cases at once.

    ``cases`` maps a name to (profile directory, environment); returns each case's output.
    Fails if any dry run fails.
    """
    running = {}
    for name, (profile, env) in cases.items():
        workdir = root / name
        write_snakefile(workdir)
        cmd = ["timeout", "-k", "10", "120", sys.executable, "-m", "snakemake", "--profile", str(profile), "-n"]
        running[name] = subprocess.Popen(
            cmd,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    outputs = {name: proc.communicate(timeout=150)[0] for name, proc in running.items()}
    for name, proc in running.items():
        assert proc.returncode == 0, f"dry run {name} failed:\n{outputs[name][-3000:]}"
    return outputs


def attempt_value(expression: Any, attempt: int) -> Any:
    """Evaluate a profile resource expression such as ``"60 * attempt"``."""
    return eval(str(expression), {"__builtins__": {}}, {"attempt": attempt})


# ---------------------------------------------------------------- fast profile tests


def all_profile_files() -> list[Path]:
    return sorted(PROFILES.glob(f"*/{PROFILE_FILE}")) + [LOOPBACK_OVERLAY]


def test_cluster_keeps_every_job_record(tmp_path: Path) -> None:
    """The loopback cluster's slurm.conf keeps finished jobs longer than the SLURM tests can run
    (their job counts read `scontrol show jobs`, which forgets jobs older than MinJobAge)."""
    import re

    from slurm_cluster import MIN_JOB_AGE_S, _slurm_conf

    conf = _slurm_conf(tmp_path, "node0", 2, 2000)
    ages = re.findall(r"^MinJobAge=(\d+)$", conf, flags=re.MULTILINE)
    assert ages == [str(MIN_JOB_AGE_S)]
    longest_test_s = 4 * 900  # test_workflow_slurm.py: at most a few Snakemake calls of TIMEOUT_S each
    assert longest_test_s < MIN_JOB_AGE_S


def test_expected_profiles_exist() -> None:
    names = {path.parent.name for path in PROFILES.glob(f"*/{PROFILE_FILE}")}
    assert {"slurm", "local", "ci"} <= names
    assert LOOPBACK_OVERLAY.is_file()


@pytest.mark.parametrize("path", all_profile_files(), ids=lambda p: p.parent.name)
def test_profile_is_a_mapping_without_tasks(path: Path) -> None:
    profile = load_profile(path)
    resources = dict(profile.get("default-resources") or {})
    for rule_resources in (profile.get("set-resources") or {}).values():
        resources.update(rule_resources)
    # every job is one task; `tasks` would become sbatch --ntasks / --ntasks-per-gpu
    assert "tasks" not in resources, f"{path}: no `tasks` resource expected"
    assert "tasks" not in profile


def test_slurm_profile_keys() -> None:
    profile = load_profile(PROJECT_SLURM_PROFILE)
    assert profile["executor"] == "slurm"
    assert isinstance(profile["jobs"], int) and profile["jobs"] >= 1
    assert isinstance(profile["retries"], int) and profile["retries"] >= 1
    assert profile["rerun-incomplete"] is True
    assert profile["keep-going"] is True
    assert profile["printshellcmds"] is True
    assert profile["latency-wait"] >= 5
    # the squeue status override belongs to the loopback test profile only
    assert "slurm-status-command" not in profile
    defaults = profile["default-resources"]
    assert {"slurm_account", "slurm_partition", "runtime", "mem_mb"} <= set(defaults)
    for rule in (*GPU_RULES, "soft_targets"):
        # one GPU; CPUs, memory and wall time come from the workflow's rules (config `resources`),
        # which set-resources would override
        assert profile["set-resources"][rule] == {"gpu": 1}
    for name in ("runtime", "mem_mb"):
        first, second = (attempt_value(defaults[name], a) for a in (1, 2))
        assert second == 2 * first > 0, f"{name} must scale with attempt: {defaults[name]!r}"


def test_local_and_ci_profile_keys() -> None:
    local = load_profile(PROFILES / "local" / PROFILE_FILE)
    assert local["cores"] == "all"
    assert isinstance(local["resources"]["gpu"], int) and local["resources"]["gpu"] >= 0
    assert local["keep-going"] is True
    assert local["rerun-incomplete"] is True
    assert local["printshellcmds"] is True
    assert "executor" not in local

    ci = load_profile(PROFILES / "ci" / PROFILE_FILE)
    assert ci["cores"] == 2
    assert ci["keep-going"] is False
    assert ci["rerun-incomplete"] is True
    assert ci["printshellcmds"] is True
    assert ci["show-failed-logs"] is True
    assert "executor" not in ci


def test_loopback_overlay_keys() -> None:
    overlay = load_profile(LOOPBACK_OVERLAY)
    assert overlay["slurm-status-command"] == "squeue"
    assert overlay["default-resources"]["slurm_partition"] == "debug"
    assert overlay["default-resources"]["slurm_account"] is None


def test_merge_profiles_merges_resources_per_key() -> None:
    base = {
        "__use_yte__": True,
        "jobs": 100,
        "default-resources": {"runtime": "60 * attempt", "slurm_account": "x"},
        "set-resources": {"train": {"gpu": 1, "cpus_per_gpu": 4}, "other": {"mem_mb": 1}},
    }
    overlay = {
        "jobs": 4,
        "default-resources": {"slurm_account": None},
        "set-resources": {"train": {"cpus_per_gpu": 1}},
        "slurm-status-command": "squeue",
    }
    merged = merge_profiles(base, overlay)
    assert merged == {
        "__use_yte__": True,
        "jobs": 4,
        "default-resources": {"runtime": "60 * attempt", "slurm_account": None},
        "set-resources": {"train": {"gpu": 1, "cpus_per_gpu": 1}, "other": {"mem_mb": 1}},
        "slurm-status-command": "squeue",
    }
    assert base["set-resources"]["train"]["cpus_per_gpu"] == 4  # inputs untouched


@pytest.fixture(scope="module")
def dry_run_output(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Dry-run outputs of every profile (plus variants), computed once, concurrently."""
    no_slurm_vars = snakemake_env()
    with_vars = {**no_slurm_vars, "SLURM_ACCOUNT": "proj123", "SLURM_PARTITION": "gpu-a100"}
    root = tmp_path_factory.mktemp("dry_runs")
    cases = {name: (PROFILES / name, no_slurm_vars) for name in ("slurm", "local", "ci")}
    cases["slurm-with-env"] = (PROFILES / "slurm", with_vars)
    cases["loopback-merged"] = (write_merged_profile(root / "merged-profile"), no_slurm_vars)
    return dry_runs(root, cases)


@pytest.mark.parametrize("name", ["slurm", "local", "ci"])
def test_profile_accepted_by_snakemake(name: str, dry_run_output: dict[str, str]) -> None:
    """Snakemake rejects unknown profile keys, so a clean dry run validates every key."""
    output = dry_run_output[name]  # run without any SLURM_* variable
    assert "train" in output and "summarize" in output
    if name == "slurm":
        assert "slurm_account" not in output and "slurm_partition" not in output
        assert "gpu=1" in output and "runtime=60" in output  # set-resources gpu, default runtime


def test_merged_loopback_profile_accepted_by_snakemake(dry_run_output: dict[str, str]) -> None:
    output = dry_run_output["loopback-merged"]
    assert "slurm_partition=debug" in output
    assert "slurm_account" not in output
    assert "cpus_per_gpu=1" in output


def test_slurm_profile_account_and_partition_reach_snakemake(
    dry_run_output: dict[str, str],
) -> None:
    output = dry_run_output["slurm-with-env"]
    assert "slurm_account=proj123" in output
    assert "slurm_partition=gpu-a100" in output


def rendered_slurm_defaults(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    """The slurm profile's default-resources after YTE templating, as Snakemake does first."""
    import yte  # a Snakemake dependency

    for name in ("SLURM_ACCOUNT", "SLURM_PARTITION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with open(PROJECT_SLURM_PROFILE, encoding="utf-8") as handle:
        return yte.process_yaml(handle, require_use_yte=True)["default-resources"]


def test_slurm_profile_account_and_partition_templating(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = rendered_slurm_defaults(monkeypatch, SLURM_ACCOUNT="p 1'x", SLURM_PARTITION="gpu")
    # quoted with repr, so Snakemake evaluates them back to exactly these strings
    assert eval(defaults["slurm_account"], {"__builtins__": {}}) == "p 1'x"
    assert eval(defaults["slurm_partition"], {"__builtins__": {}}) == "gpu"
    for env in ({}, {"SLURM_ACCOUNT": "", "SLURM_PARTITION": ""}):
        defaults = rendered_slurm_defaults(monkeypatch, **env)
        assert defaults["slurm_account"] is None and defaults["slurm_partition"] is None


# ---------------------------------------------------------------- the real SLURM run


def skip_or_fail(reason: str) -> None:
    """Skip, or fail under CI=true (CI must run the SLURM test)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but the SLURM test cluster is unavailable: {reason}")
    pytest.skip(f"SLURM test cluster unavailable: {reason}")


def test_skip_or_fail_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no apt-get"):
        skip_or_fail("no apt-get")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no apt-get"):
        skip_or_fail("no apt-get")


def test_cluster_needs_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SlurmUnavailable, match="root"):
        with local_slurm_cluster(tmp_path):
            pass


@pytest.fixture
def slurm_cluster(tmp_path: Path) -> Iterator[LocalSlurmCluster]:
    with contextlib.ExitStack() as stack:
        try:
            cluster = stack.enter_context(local_slurm_cluster(tmp_path / "cluster"))
        except SlurmUnavailable as exc:
            skip_or_fail(str(exc))
        yield cluster


def slurm_logs(workdir: Path) -> str:
    logs = sorted((workdir / ".snakemake" / "slurm_logs").rglob("*.log"))
    return "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-1500:]}" for p in logs)


def scontrol_job(job_id: str) -> str:
    result = subprocess.run(
        ["scontrol", "show", "job", job_id],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    return result.stdout


def process_alive(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def pgrep(command_line: str) -> list[int]:
    """Pids of processes whose full command line contains ``command_line``."""
    out = subprocess.run(["pgrep", "-f", command_line], capture_output=True, text=True, timeout=10)
    return [pid for pid in map(int, out.stdout.split()) if process_alive(pid)]


class _TestBodyFailed(Exception):
    pass


@pytest.mark.slurm
def test_cluster_stops_on_exception(tmp_path: Path) -> None:
    """Jobs are cancelled, daemons stopped and /etc/slurm links removed even after an error."""
    root = tmp_path / "cluster"
    sleep = "sleep 617"  # a command line no other process has
    pids: dict[str, int] = {}
    try:
        with local_slurm_cluster(root) as cluster:
            for name in ("slurmctld", "slurmd"):  # the daemons delete their pid files on exit
                pids[name] = int((root / "run" / f"{name}.pid").read_text())
            subprocess.run(
                ["sbatch", "--wrap", sleep, "-o", str(root / "sleep.out")],
                capture_output=True,
                text=True,
                timeout=30,
                env=cluster.env,
                check=True,
            )
            deadline = time.monotonic() + 30
            while not pgrep(sleep) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert pgrep(sleep), "the sleep job never started"
            raise _TestBodyFailed
    except SlurmUnavailable as exc:
        skip_or_fail(str(exc))
    except _TestBodyFailed:
        pass
    for name, pid in pids.items():
        assert not process_alive(pid), f"{name} (pid {pid}) still running"
    link = Path("/etc/slurm/slurm.conf")
    assert not (link.is_symlink() and str(root) in os.readlink(link))
    assert not pgrep(sleep), "the job's process survived the shutdown"


@pytest.mark.slurm
def test_workflow_runs_through_sbatch(slurm_cluster: LocalSlurmCluster, tmp_path: Path) -> None:
    workdir = tmp_path / "wf"
    write_snakefile(workdir)
    started = time.monotonic()
    result = run_snakemake(workdir, ["--profile", str(slurm_cluster.profile)], slurm_cluster.env, SNAKEMAKE_TIMEOUT_S)
    elapsed = time.monotonic() - started
    context = (
        f"snakemake exit {result.returncode} after {elapsed:.0f} s\n{result.stderr[-4000:]}\n"
        f"{slurm_logs(workdir)}\n{slurm_cluster.log_tail()}"
    )
    assert result.returncode == 0, context

    train = record(workdir / "train.txt")
    certify = record(workdir / "certify.txt")
    summary = record(workdir / "summary.txt")
    job_ids = [train["job"], certify["job"], summary["job"]]
    assert all(job_ids), context
    assert len(set(job_ids)) == 3, context
    for gpu_job in (train, certify):
        assert gpu_job["gpu"] == "0", context  # the fake GPU, allocated by SLURM
        assert gpu_job["partition"] == slurm_cluster.partition
    assert summary["gpu"] == "", context  # CPU job: no GPU allocated
    # the first attempt failed on purpose; the retry ran with doubled resources
    assert summary["mem_mb"] == "1000" and summary["runtime"] == "20", context
    assert "first attempt fails on purpose" in result.stderr + slurm_logs(workdir), context

    train_job = scontrol_job(train["job"])
    assert "gres/gpu=1" in train_job or "gres:gpu:1" in train_job, train_job
    assert "Partition=debug" in train_job, train_job
