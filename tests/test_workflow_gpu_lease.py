"""randsmooth.gpu_lease: device-id leasing with flock-ed lock files, tested with fake GPU counts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from randsmooth import gpu_lease
from randsmooth.cli import gpu_lease as lease_cli
from randsmooth.gpu_lease import Decision, acquire, decide, lock_path, try_lock
from randsmooth.pipeline import config
from randsmooth.pipeline.plan import Plan
from workflow_run import run_snakemake

SHOW = "import os; print(os.environ.get('CUDA_VISIBLE_DEVICES', 'unset'), flush=True)"


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLURM_", "CUDA_VISIBLE_DEVICES", gpu_lease.LOCK_DIR_ENV))
    }
    env.update(extra)
    return env


# ------------------------------------------------------------------------------ decide
@pytest.mark.parametrize(
    "environ, devices, count, expected",
    [
        ({"SLURM_JOB_ID": "7"}, None, 4, ()),
        ({"SLURM_JOB_ID": "7", "CUDA_VISIBLE_DEVICES": "0,1"}, [0, 1], 4, ()),
        ({"CUDA_VISIBLE_DEVICES": "3"}, None, 4, ()),
        ({"CUDA_VISIBLE_DEVICES": ""}, None, 4, ()),
        ({"CUDA_VISIBLE_DEVICES": "-1"}, None, 4, ()),
        ({"CUDA_VISIBLE_DEVICES": "2,-1,3"}, None, 4, ()),
        ({"CUDA_VISIBLE_DEVICES": "2,3"}, None, 4, ("2", "3")),
        ({"CUDA_VISIBLE_DEVICES": "GPU-ab,GPU-cd"}, None, 0, ("GPU-ab", "GPU-cd")),
        ({}, [1, 3], 4, ("1", "3")),
        ({}, [], 4, ()),
        ({}, None, 0, ()),
        ({}, None, 3, ("0", "1", "2")),
    ],
)
def test_decide(environ: dict[str, str], devices: list[int] | None, count: int, expected: tuple[str, ...]) -> None:
    decision = decide(environ, devices, gpu_count=count)
    assert isinstance(decision, Decision)
    assert decision.candidates == expected
    assert decision.reason


def test_decide_counts_with_nvidia_smi_when_not_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu_lease, "gpu_ids", lambda: ["0", "1"])
    assert decide({}).candidates == ("0", "1")
    monkeypatch.setattr(gpu_lease, "gpu_ids", lambda: [])
    assert decide({}).candidates == ()


def test_mig_instances_are_leased_by_uuid() -> None:
    listing = (
        "GPU 0: NVIDIA H200 (UUID: GPU-11111111-2222-3333-4444-555555555555)\n"
        "  MIG 3g.71gb     Device  0: (UUID: MIG-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee)\n"
        "  MIG 3g.71gb     Device  1: (UUID: MIG-ffffffff-bbbb-cccc-dddd-eeeeeeeeeeee)\n"
        "GPU 1: NVIDIA H200 (UUID: GPU-66666666-2222-3333-4444-555555555555)\n"
    )
    assert gpu_lease.parse_gpu_list(listing) == [
        "MIG-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "MIG-ffffffff-bbbb-cccc-dddd-eeeeeeeeeeee",
        "1",
    ]
    assert gpu_lease.parse_gpu_list("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)\n") == ["0"]
    assert gpu_lease.parse_gpu_list("No devices found.\n") == []


def test_count_gpus_without_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu_lease.shutil, "which", lambda name: None)
    assert gpu_lease.count_gpus() == 0


# ----------------------------------------------------------------------------- acquire
def test_leases_are_exclusive_and_released(tmp_path: Path) -> None:
    first = acquire(["0", "1"], tmp_path)
    second = acquire(["0", "1"], tmp_path)
    assert (first.device, second.device) == ("0", "1")
    assert "pid" in first.path.read_text()
    with pytest.raises(TimeoutError, match=r"no free GPU among \['0', '1'\]"):
        acquire(["0", "1"], tmp_path, timeout=0.2, poll=0.05)
    first.release()
    third = acquire(["0", "1"], tmp_path, timeout=0.2, poll=0.05)
    assert third.device == "0"
    second.release()
    third.release()


def test_waits_for_a_free_device(tmp_path: Path) -> None:
    holder = acquire(["0"], tmp_path)
    timer = threading.Timer(0.3, holder.release)
    timer.start()
    started = time.monotonic()
    lease = acquire(["0"], tmp_path, timeout=10, poll=0.05)
    waited = time.monotonic() - started
    timer.join()
    assert lease.device == "0" and 0.2 < waited < 5
    lease.release()


def test_acquire_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one candidate"):
        acquire([], tmp_path)
    with pytest.raises(ValueError, match="poll"):
        acquire(["0"], tmp_path, poll=0)


def test_lock_path_is_file_name_safe(tmp_path: Path) -> None:
    assert lock_path(tmp_path, "GPU-1a/2:3").name == "gpu-GPU-1a_2_3.lock"


# -------------------------------------------------------------------------------- CLI
def lease_cmd(lock_dir: Path, *options: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "randsmooth",
        "gpu-lease",
        "--lock-dir",
        str(lock_dir),
        "--poll",
        "0.05",
        *options,
        "--",
    ]


def test_cli_sets_cuda_visible_devices(tmp_path: Path) -> None:
    out = subprocess.run(
        lease_cmd(tmp_path, "--gpu-count", "2") + [sys.executable, "-c", SHOW],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "0"
    assert try_lock(lock_path(tmp_path, "0")) is not None  # released once the command exited


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"SLURM_JOB_ID": "12"}, "unset"),
        ({"CUDA_VISIBLE_DEVICES": "5"}, "5"),
        ({}, "unset"),  # --gpu-count 0: no GPU, run unchanged on the CPU
    ],
)
def test_cli_is_a_no_op_when_not_needed(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    out = subprocess.run(
        lease_cmd(tmp_path, "--gpu-count", "0" if not env else "2") + [sys.executable, "-c", SHOW],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == expected
    assert not list(tmp_path.glob("*.lock"))


def test_concurrent_jobs_get_distinct_devices_and_a_third_waits(tmp_path: Path) -> None:
    hold = "import os, sys, time; print(os.environ['CUDA_VISIBLE_DEVICES'], flush=True); sys.stdin.read()"
    procs = [
        subprocess.Popen(
            lease_cmd(tmp_path, "--gpu-count", "2") + [sys.executable, "-c", hold],
            env=clean_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        devices = sorted(p.stdout.readline().strip() for p in procs)
        assert devices == ["0", "1"]
        third = subprocess.Popen(
            lease_cmd(tmp_path, "--gpu-count", "2") + [sys.executable, "-c", SHOW],
            env=clean_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.0)
        assert third.poll() is None, "the third job must wait while both GPUs are leased"
        os.kill(procs[1].pid, signal.SIGKILL)  # a crashed holder releases its lease too
        procs[1].wait(timeout=30)
        out, _ = third.communicate(timeout=60)
        assert third.returncode == 0
        assert out.strip() in devices
    finally:
        for p in procs:
            if p.poll() is None:
                p.stdin.close()
                p.wait(timeout=30)


def test_cli_passes_the_exit_status_through(tmp_path: Path) -> None:
    result = subprocess.run(
        lease_cmd(tmp_path, "--gpu-count", "1") + ["sh", "-c", "exit 3"], env=clean_env(), timeout=60, check=False
    )
    assert result.returncode == 3


def test_cli_timeout_and_usage_errors(tmp_path: Path) -> None:
    holder = acquire(["0"], tmp_path)
    try:
        result = subprocess.run(
            lease_cmd(tmp_path, "--devices", "0", "--timeout", "0.3") + ["true"],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 1 and "no free GPU" in result.stderr
    finally:
        holder.release()
    for args in (["--devices", "0"], ["--devices", "0", "--"]):
        result = subprocess.run(
            [sys.executable, "-m", "randsmooth", "gpu-lease", *args],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2 and result.stderr.startswith("error:")


# ---------------------------------------------------------------- timeout, holders, descriptor leaks
HOLD = "import os, sys; print(os.getpid(), flush=True); sys.stdin.read()"


def hold_gpu0(lock_dir: Path, *marker: str) -> tuple[subprocess.Popen, int]:
    """Lease GPU 0 for a command that holds it until its stdin closes: (the wrapper, the command's pid)."""
    proc = subprocess.Popen(
        lease_cmd(lock_dir, "--devices", "0") + [sys.executable, "-c", HOLD, *marker],
        env=clean_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    return proc, int(proc.stdout.readline())


def test_default_wait_is_finite(tmp_path: Path) -> None:
    args = lease_cli.build_parser().parse_args([])
    assert args.timeout == gpu_lease.DEFAULT_TIMEOUT and 0 < args.timeout < float("inf")
    assert lease_cli.build_parser().parse_args(["--timeout", "inf"]).timeout == float("inf")


def test_timeout_error_is_one_line_naming_the_holder(tmp_path: Path) -> None:
    holder, child_pid = hold_gpu0(tmp_path, "marker-holder-job")
    try:
        result = subprocess.run(
            lease_cmd(tmp_path, "--devices", "0", "--timeout", "0.3") + ["true"],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 1
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, result.stderr
        assert f"GPU 0 held by pid {child_pid} (" in errors[0] and "marker-holder-job" in errors[0]
        assert "after 0.3 s" in errors[0]
        # the lock file records the command's pid, not the wrapper's
        assert lock_path(tmp_path, "0").read_text().startswith(f"pid {child_pid}: ")
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_background_processes_of_the_command_do_not_keep_the_lease(tmp_path: Path) -> None:
    # COMMAND leaves a grandchild running after it exits (a daemon, a stray worker)
    spawn = (
        "import subprocess, sys; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], close_fds=False, "
        "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
        "print(p.pid, flush=True)"
    )
    for inherit, leased_after in ((False, False), (True, True)):
        options = ("--devices", "0") + (("--inherit-lock",) if inherit else ())
        result = subprocess.run(
            lease_cmd(tmp_path, *options) + [sys.executable, "-c", spawn],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        grandchild = int(result.stdout.split()[0])
        try:
            fd = try_lock(lock_path(tmp_path, "0"))
            assert (fd is None) == leased_after, f"inherit={inherit}"
            if fd is not None:
                os.close(fd)
        finally:
            os.kill(grandchild, signal.SIGKILL)


def test_sigterm_reaches_the_command_and_releases_the_lease(tmp_path: Path) -> None:
    handler = (
        "import os, signal, sys, time; "
        "signal.signal(signal.SIGTERM, lambda *a: (print('got TERM', flush=True), sys.exit(5))); "
        "print(os.getpid(), flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen(
        lease_cmd(tmp_path, "--devices", "0") + [sys.executable, "-c", handler],
        env=clean_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    proc.stdout.readline()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert "got TERM" in out and proc.returncode == 5
    fd = try_lock(lock_path(tmp_path, "0"))
    assert fd is not None
    os.close(fd)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")
def test_a_killed_wrapper_takes_its_command_along(tmp_path: Path) -> None:
    proc, child = hold_gpu0(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{child}").exists():
        if (Path(f"/proc/{child}/stat").read_text().split()[2:3] or ["?"])[0] == "Z":
            break  # a zombie: dead, waiting for init to reap it
        time.sleep(0.05)
    stat = Path(f"/proc/{child}/stat")
    assert not stat.exists() or stat.read_text().split()[2] == "Z"
    fd = try_lock(lock_path(tmp_path, "0"))
    assert fd is not None
    os.close(fd)


# ------------------------------------------------------------- the workflow on a (fake) one-GPU machine
REPO = Path(__file__).resolve().parents[1]


def fake_gpu_workflow(tmp_path: Path, target: str, gpu: dict[str, object], timeout: int) -> subprocess.CompletedProcess:
    """Snakemake on config/ci.yaml with device auto, one fake GPU (nvidia-smi on PATH), 8 cores, gpu=1."""
    import yaml

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H200 (UUID: GPU-00000000-0000-0000-0000-000000000000)'\n")
    smi.chmod(0o755)
    config = yaml.safe_load((REPO / "config" / "ci.yaml").read_text())
    config.update(device="auto", gpu=gpu, data_root=str(tmp_path / "data"))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    env = clean_env(PATH=f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    args = (target, "--cores", "8", "--resources", "gpu=1", "--configfile", str(tmp_path / "config.yaml"))
    return run_snakemake(tmp_path, *args, timeout=timeout, env=env)


@pytest.mark.slow
def test_workflow_gpu_jobs_lease_the_gpu_one_at_a_time(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    result = fake_gpu_workflow(tmp_path, "certify_all", {"lock_dir": str(locks)}, 300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    logs = [p.read_text() for p in (tmp_path / "results" / "ci").rglob("*.log")]
    leases = [line for text in logs for line in text.splitlines() if "leased GPU 0" in line]
    plan = Plan(config.load(REPO / "config" / "ci.yaml", REPO / "config" / "schema.yaml"))
    gpu_jobs = len(plan.used_models()) + 1 + sum(plan.run(k).shards for k in plan.used_runs())  # + soft targets
    assert len(leases) == gpu_jobs  # every train, soft_targets and certify_shard job through the lease
    assert not any("waiting" in text for text in logs)  # --resources gpu=1: never two at a time
    fd = try_lock(lock_path(locks, "0"))
    assert fd is not None  # nothing kept the lease
    os.close(fd)


@pytest.mark.slow
def test_workflow_fails_with_the_holder_named_instead_of_hanging(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    stray, holder = hold_gpu0(locks, "stray-gpu-process")  # e.g. left over from an earlier run
    try:
        started = time.monotonic()
        result = fake_gpu_workflow(tmp_path, "train_all", {"lock_dir": str(locks), "wait_timeout": 3}, 200)
        assert result.returncode == 1 and time.monotonic() - started < 150
        logs = "\n".join(p.read_text() for p in (tmp_path / "results" / "ci").rglob("train/*.log"))
        assert f"error: gpu-lease: no free GPU among ['0'] after 3 s: GPU 0 held by pid {holder} (" in logs
        assert "stray-gpu-process" in logs
    finally:
        stray.stdin.close()
        stray.wait(timeout=30)
