"""The benchmark scripts run: the throughput table in --quick mode, and the device check as a CPU dry run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def env() -> dict[str, str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return {**os.environ, "PYTHONPATH": str(REPO / "src"), "PATH": path}


def test_certify_throughput_quick_prints_every_method_and_ratio():
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "certify_throughput.py"), "--quick"],
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("model "))
    for column in ("bare", "engine", "fast", "loop", "eng/bare", "fast/bare", "eng/loop", "fast/loop"):
        assert column in lines[header]
    rows = {line.split()[0]: line.split() for line in lines[header + 2 :] if line.strip()}
    assert set(rows) == {"digits_cnn", "cifar_resnet20"}
    assert all(float(v) > 0 for row in rows.values() for v in row[3:])
    assert "device=cpu (" in result.stdout and "repeats=1" in result.stdout


def test_gpu_check_script_parses():
    subprocess.run(["bash", "-n", str(REPO / "benchmarks" / "gpu_check.sh")], check=True, timeout=30)


@pytest.mark.slow
def test_gpu_check_dry_run_on_the_cpu(tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(
        [str(REPO / "benchmarks" / "gpu_check.sh")],
        env={
            **env(),
            "RANDSMOOTH_GPU_CHECK_DEVICE": "cpu",
            "OUT": str(out),
            "PYTHON": sys.executable,
            "RANDSMOOTH_GPU_CHECK_WORKDIR": str(tmp_path / "wf"),
        },
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    expected = {
        "env.log",
        "tests.log",
        "cuda-tests.log",
        "bench.log",
        "workflow.log",
        "workflow_logs.tar.gz",
        "summary.txt",
    }
    assert expected <= {p.name for p in out.iterdir()}
