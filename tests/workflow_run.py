"""Running Snakemake on this repository's Snakefile from the tests, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SNAKEFILE = Path(__file__).resolve().parents[1] / "Snakefile"


def snakemake_env() -> dict[str, str]:
    """This process's environment without SLURM/SBATCH settings; this interpreter's bin first."""
    prefixes = ("SLURM_", "SBATCH_", "SALLOC_", "SRUN_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def snakemake_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), *args]


def start_snakemake(workdir: Path, *args: str) -> subprocess.Popen[str]:
    """``snakemake -s Snakefile ARGS`` started in ``workdir`` in its own session (so that a test can
    signal or kill its whole process tree), stdout and stderr together in ``stdout``."""
    return subprocess.Popen(
        snakemake_cmd(*args),
        cwd=workdir,
        env=snakemake_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def run_snakemake(
    workdir: Path, *args: str, timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``snakemake -s Snakefile ARGS`` in ``workdir`` (created), killed after ``timeout`` seconds;
    ``env`` defaults to :func:`snakemake_env`."""
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        ["timeout", "-k", "10", str(int(timeout)), *snakemake_cmd(*args)],
        cwd=workdir,
        env=snakemake_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout + 30,
        stdin=subprocess.DEVNULL,
        check=False,
    )
