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
   ``CUDA_VISIBLE_DEVICES`` listing several devices, else ``0 .. N-1`` for the N GPUs found
   (the UUIDs of the MIG instances of a GPU in MIG mode, whose index CUDA cannot use).
3. It takes an exclusive, non-blocking ``fcntl.flock`` on ``<lock-dir>/gpu-<id>.lock`` for the
   first free id, polling every ``--poll`` seconds while all are taken, for at most ``--timeout``
   seconds (default :data:`DEFAULT_TIMEOUT`; ``inf`` waits forever). On a timeout it fails with one
   line naming, per device, the pid and command line of every process holding the lock. The lock
   file records the holder's pid and command (for people).
4. It sets ``CUDA_VISIBLE_DEVICES=<id>`` and runs COMMAND as its child, holding the lock itself:
   the lock's descriptor is close-on-exec, so neither COMMAND nor anything COMMAND starts holds it,
   and the lease lasts exactly as long as COMMAND. The wrapper forwards SIGTERM, SIGINT, SIGHUP,
   SIGQUIT, SIGUSR1 and SIGUSR2 to COMMAND, waits for it and releases the lease; on Linux COMMAND
   is killed if the wrapper dies (``kill -9``), and the kernel releases the lock of a dead wrapper,
   so there is no stale-lock cleanup to get wrong. With ``--inherit-lock`` the wrapper instead
   ``exec``\\ s COMMAND with the descriptor inherited: the lease then lasts until COMMAND *and every
   process it started* have exited (a leftover background process keeps the GPU leased). CUDA is
   never initialised by the wrapper.

Exit status: COMMAND's own (128 + N if it was killed by signal N), 1 on a lease timeout, 2 on bad
usage, 127 if COMMAND cannot be run.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_DIR_ENV = "RANDSMOOTH_GPU_LOCK_DIR"
DEFAULT_TIMEOUT = 600.0  # seconds a job waits for a free GPU before failing
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def default_lock_dir() -> Path:
    """``$RANDSMOOTH_GPU_LOCK_DIR``, else ``<tmp>/randsmooth-gpu-locks-<uid>`` (per user)."""
    env = os.environ.get(LOCK_DIR_ENV)
    if env:
        return Path(env)
    return Path(tempfile.gettempdir()) / f"randsmooth-gpu-locks-{os.getuid()}"


def parse_gpu_list(text: str) -> list[str]:
    """CUDA device ids in ``nvidia-smi -L`` output: each GPU's index, or the UUIDs of its MIG devices.

    With MIG enabled a GPU's index is no CUDA device (``CUDA_VISIBLE_DEVICES=0`` would hide every
    device); its MIG instances, listed under it, are selected by UUID.
    """
    ids: list[str] = []
    gpu: str | None = None
    migs: list[str] = []
    for line in text.splitlines() + ["GPU end"]:
        if line.startswith("GPU "):
            if gpu is not None:
                ids += migs or [gpu]
            gpu, migs = line[4:].split(":", 1)[0].strip(), []
        elif line.strip().startswith("MIG") and gpu is not None:
            match = re.search(r"UUID:\s*(MIG-[^)\s]+)", line)
            if match:
                migs.append(match.group(1))
    return ids


def gpu_ids() -> list[str]:
    """CUDA device ids from ``nvidia-smi -L`` (see :func:`parse_gpu_list`; [] if it is missing or fails)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    return parse_gpu_list(out.stdout)


def count_gpus() -> int:
    """Number of CUDA devices ``nvidia-smi -L`` lists (0 if it is missing or fails)."""
    return len(gpu_ids())


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
    ids = gpu_ids() if gpu_count is None else [str(i) for i in range(gpu_count)]
    if not ids:
        return Decision((), "no GPU found: running without a lease (the job uses the CPU if allowed)")
    return Decision(tuple(ids), f"leasing one of {len(ids)} GPU(s)")


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


def _record_holder(fd: int, note: str, pid: int | None = None) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid() if pid is None else pid}: {note}\n".encode("utf-8", errors="replace"), 0)


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode("utf-8", errors="replace").strip()
    except OSError:
        return ""


def lock_holders(path: Path) -> list[tuple[int, str]]:
    """(pid, command line) of every process with ``path`` open (Linux ``/proc``; [] elsewhere or unreadable)."""
    target = os.path.realpath(path)
    found = []
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []
    for pid in pids:
        if pid == os.getpid():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    found.append((pid, _cmdline(pid)))
                    break
            except OSError:
                continue
    return sorted(found)


def describe_holder(path: Path, limit: int = 200) -> str:
    """Who holds the lock ``path``: the pid and command the lock file records if that process lives,
    else every live process with the file open (Linux ``/proc``), else the record."""
    try:
        recorded = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[0]
    except (OSError, IndexError):
        recorded = ""
    match = re.match(r"pid (\d+): (.*)", recorded)
    if match and Path(f"/proc/{match.group(1)}").exists():
        return f"pid {match.group(1)} ({match.group(2)[:limit]})"
    holders = lock_holders(path)
    if holders:
        live = ", ".join(f"pid {pid} ({cmd[:limit] or '?'})" for pid, cmd in holders)
        return live + (f", which inherited the lock of exited {recorded[:limit]}" if recorded else "")
    return f"{recorded[:limit]} (recorded)" if recorded else "an unknown process"


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

    Raises ``TimeoutError`` after ``timeout`` seconds (None or inf: wait forever; the message names
    the holders, see :func:`describe_holder`) and ``ValueError`` for an empty candidate list or a
    non-positive ``poll``.
    """
    if not candidates:
        raise ValueError("acquire needs at least one candidate device")
    if poll <= 0:
        raise ValueError(f"poll must be > 0 seconds, got {poll}")
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout is None or math.isinf(timeout) else clock() + timeout
    waiting_logged = False
    while True:
        for device in candidates:
            path = lock_path(lock_dir, device)
            fd = try_lock(path)
            if fd is not None:
                _record_holder(fd, note)
                return Lease(device, fd, path)
        if deadline is not None and clock() >= deadline:
            held = "; ".join(f"GPU {d} held by {describe_holder(lock_path(lock_dir, d))}" for d in candidates)
            raise TimeoutError(
                f"no free GPU among {list(candidates)} after {timeout:g} s: {held} (locks in {lock_dir}; "
                "--timeout / gpu.wait_timeout sets the wait)"
            )
        if not waiting_logged:
            held = "; ".join(f"GPU {d}: {describe_holder(lock_path(lock_dir, d))}" for d in candidates)
            log.info("all GPUs %s are leased (%s); waiting up to %s s", list(candidates), held, timeout)
            waiting_logged = True
        sleep(poll)


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGKILL when the wrapper dies, so a lease never outlives it."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return


def supervise(command: Sequence[str], env: Mapping[str, str], lease: Lease) -> int:
    """Run ``command`` as a child while holding ``lease``; forward signals; return its exit status."""
    parent = os.getpid()

    def preexec() -> None:
        if sys.platform.startswith("linux"):
            _die_with_parent()
            if os.getppid() != parent:  # the wrapper died before prctl took effect
                os._exit(137)

    try:
        proc = subprocess.Popen(list(command), env=dict(env), preexec_fn=preexec)  # noqa: PLW1509 - single thread
    except OSError as exc:
        lease.release()
        print(f"error: gpu-lease: cannot run {command[0]!r}: {exc}", file=sys.stderr)
        return 127
    _record_holder(lease.fd, f"{' '.join(command)[:500]} (lease held by gpu-lease pid {parent})", pid=proc.pid)
    previous = {sig: signal.signal(sig, lambda signum, _frame: proc.send_signal(signum)) for sig in FORWARDED_SIGNALS}
    try:
        status = proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        lease.release()
    return status if status >= 0 else 128 - status
