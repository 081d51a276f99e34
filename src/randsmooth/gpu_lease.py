"""GPU leases on a multi-GPU workstation (``python -m randsmooth gpu-lease [options] -- COMMAND ...``).

On a multi-GPU workstation Snakemake only *counts* GPUs (``--resources gpu=N``); it does not say
which device a job should use. This wrapper gives each GPU job its own device:

1. It decides whether leasing is needed at all. It is a **no-op** (COMMAND runs unchanged) when
   * ``SLURM_JOB_ID`` is set: the SLURM allocation already decides (``CUDA_VISIBLE_DEVICES`` is
     set by SLURM's gres plugin);
   * ``CUDA_VISIBLE_DEVICES`` is already set to at most one device (a scheduler or the user
     restricted the job), or to none (``""`` / ``-1``);
   * no GPU is found (``nvidia-smi -L`` lists none, or is missing): the job runs on the CPU if
     its config allows (``device: auto`` or ``cpu``), and fails fast with ``device: cuda``.
2. Otherwise the candidate ids are ``--devices`` (physical ids), else the entries of a
   ``CUDA_VISIBLE_DEVICES`` listing several devices, else ``0 .. N-1`` for the N GPUs found.
3. It takes an exclusive, non-blocking ``fcntl.flock`` on ``<lock-dir>/gpu-<id>.lock`` for the
   first free id, polling every ``--poll`` seconds (up to ``--timeout``, default forever) while
   all are taken. The lock file records the holder's pid and command (for people).
4. It sets ``CUDA_VISIBLE_DEVICES=<id>`` and ``exec``\\ s COMMAND with the lock's file descriptor
   inherited. The lease therefore lasts exactly as long as COMMAND (and any child that inherited
   the descriptor): the kernel releases it on exit, also after a crash or ``kill -9``; there is no
   stale-lock cleanup to get wrong. CUDA is never initialised by the wrapper.

Exit status: COMMAND's own (the wrapper is replaced by it), 1 on a lease timeout, 2 on bad usage.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_DIR_ENV = "RANDSMOOTH_GPU_LOCK_DIR"


def default_lock_dir() -> Path:
    """``$RANDSMOOTH_GPU_LOCK_DIR``, else ``<tmp>/randsmooth-gpu-locks-<uid>`` (per user)."""
    env = os.environ.get(LOCK_DIR_ENV)
    if env:
        return Path(env)
    return Path(tempfile.gettempdir()) / f"randsmooth-gpu-locks-{os.getuid()}"


def count_gpus() -> int:
    """Number of NVIDIA GPUs ``nvidia-smi -L`` lists (0 if it is missing or fails)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return 0
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return 0
    if out.returncode != 0:
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


def _visible_entries(value: str) -> list[str]:
    """Entries of a CUDA_VISIBLE_DEVICES value; CUDA ignores everything from the first -1 on."""
    entries = [e.strip() for e in value.split(",") if e.strip()]
    return entries[: entries.index("-1")] if "-1" in entries else entries


@dataclass(frozen=True)
class Decision:
    """What the wrapper will do: ``candidates`` empty means "run unchanged" (``reason`` says why)."""

    candidates: tuple[str, ...]
    reason: str


def decide(environ: Mapping[str, str], devices: Sequence[int] | None = None, gpu_count: int | None = None) -> Decision:
    """Choose the candidate device ids for a lease (see the module docstring).

    ``gpu_count`` replaces the ``nvidia-smi`` count (tests use fake counts); it is only consulted
    when neither ``devices`` nor a multi-entry ``CUDA_VISIBLE_DEVICES`` names the candidates.
    """
    if environ.get("SLURM_JOB_ID"):
        return Decision((), "running under SLURM: the allocation decides the GPU")
    if "CUDA_VISIBLE_DEVICES" in environ:
        entries = _visible_entries(environ["CUDA_VISIBLE_DEVICES"])
        if len(entries) <= 1:
            shown = environ["CUDA_VISIBLE_DEVICES"]
            return Decision(
                (),
                f"CUDA_VISIBLE_DEVICES={shown!r} is already restricted to "
                f"{'no device' if not entries else 'one device'}",
            )
        if devices is None:
            return Decision(tuple(entries), "leasing one of the devices in CUDA_VISIBLE_DEVICES")
    if devices is not None:
        if not devices:
            return Decision((), "the configured device list is empty")
        return Decision(tuple(str(d) for d in devices), "leasing one of the configured devices")
    count = count_gpus() if gpu_count is None else gpu_count
    if count <= 0:
        return Decision((), "no GPU found: running without a lease (the job uses the CPU if allowed)")
    return Decision(tuple(str(i) for i in range(count)), f"leasing one of {count} GPU(s)")


def lock_path(lock_dir: Path, device: str) -> Path:
    """Lock file of ``device`` (any id, UUIDs included, made file-name safe)."""
    return Path(lock_dir) / f"gpu-{re.sub(r'[^A-Za-z0-9._-]', '_', device)}.lock"


@dataclass
class Lease:
    """A held lease: ``device`` id and the open, flock-ed file descriptor ``fd``."""

    device: str
    fd: int
    path: Path

    def release(self) -> None:
        """Unlock and close (the kernel also does this when the holding process exits)."""
        if self.fd >= 0:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = -1


def try_lock(path: Path) -> int | None:
    """An fd holding an exclusive flock on ``path``, or None if another holder has it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _record_holder(fd: int, note: str) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()}: {note}\n".encode("utf-8", errors="replace"), 0)


def acquire(
    candidates: Sequence[str],
    lock_dir: str | os.PathLike[str],
    *,
    timeout: float | None = None,
    poll: float = 5.0,
    note: str = "",
    clock=time.monotonic,
    sleep=time.sleep,
) -> Lease:
    """Lease the first free device of ``candidates``, waiting (polling) while all are taken.

    Raises ``TimeoutError`` after ``timeout`` seconds (None: wait forever) and ``ValueError`` for
    an empty candidate list or a non-positive ``poll``.
    """
    if not candidates:
        raise ValueError("acquire needs at least one candidate device")
    if poll <= 0:
        raise ValueError(f"poll must be > 0 seconds, got {poll}")
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout is None else clock() + timeout
    waiting_logged = False
    while True:
        for device in candidates:
            path = lock_path(lock_dir, device)
            fd = try_lock(path)
            if fd is not None:
                _record_holder(fd, note)
                return Lease(device, fd, path)
        if deadline is not None and clock() >= deadline:
            raise TimeoutError(f"no free GPU among {list(candidates)} after {timeout:g} s (locks in {lock_dir})")
        if not waiting_logged:
            log.info("all GPUs %s are leased (locks in %s); waiting for one", list(candidates), lock_dir)
            waiting_logged = True
        sleep(poll)
