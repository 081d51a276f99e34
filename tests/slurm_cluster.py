"""A throwaway single-node SLURM cluster on this machine, for workflow tests.

Recipe: Debian's ``slurm-wlm`` (Slurm 22.05) and ``munge``,
one node reached over loopback with one fake GPU (``gres.conf`` ``File=/dev/null``), no
accounting daemon. ``local_slurm_cluster`` installs the packages if needed, writes the
configuration under a scratch directory, links it at ``/etc/slurm/`` (the slurm executor plugin
clears ``SLURM_*`` variables before its in-job ``srun``, so ``SLURM_CONF`` is not enough),
starts ``munged``, ``slurmctld`` and ``slurmd``, waits for the node to be idle, and always stops
everything again: ``scancel -u root``, then the daemons by the pids in their pid files.

It needs root and ``apt-get`` (or the packages already installed); otherwise it raises
``SlurmUnavailable`` with the reason, so that a test can skip (or fail under CI).
Every external command runs under a timeout.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml

from workflow_run import snakemake_env

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
PROFILE_FILE = "config.v8+.yaml"
PROJECT_SLURM_PROFILE = REPO_ROOT / "workflow" / "profiles" / "slurm" / PROFILE_FILE
LOOPBACK_OVERLAY = REPO_ROOT / "tests" / "profiles" / "slurm-local" / PROFILE_FILE

ETC_SLURM = Path("/etc/slurm")
APT_PACKAGES = ("slurm-wlm", "munge")
REQUIRED_COMMANDS = (
    "slurmctld",
    "slurmd",
    "sbatch",
    "srun",
    "squeue",
    "sinfo",
    "scancel",
    "munged",
    "munge",
    "unmunge",
    "runuser",
)
PARTITION = "debug"
MUNGE_PID_FILE = Path("/run/munge/munged.pid")

APT_TIMEOUT_S = 600  # one apt-get call (update or install)
COMMAND_TIMEOUT_S = 30  # any slurm/munge client or daemon start-up command
NODE_IDLE_TIMEOUT_S = 60  # slurmd registering with slurmctld
DAEMON_EXIT_TIMEOUT_S = 15  # per daemon, after SIGTERM (then SIGKILL)
DRAIN_TIMEOUT_S = 20  # jobs leaving the queue after scancel


class SlurmUnavailable(RuntimeError):
    """This machine cannot host the test cluster (not root, no apt-get, install failed)."""


class SlurmClusterError(RuntimeError):
    """The packages are there but the cluster did not come up; the message has the daemon logs."""


@dataclass(frozen=True)
class LocalSlurmCluster:
    """A running test cluster.

    Attributes:
        root: scratch directory holding etc/, state/, run/, log/ and profile/.
        node: node name (``hostname -s``).
        partition: the cluster's only partition.
        cpus, real_memory_mb: what the node offers (from ``slurmd -C``).
        profile: Snakemake profile directory: the project's slurm profile merged with the
            loopback overrides (pass it as ``--profile``).
        env: environment for Snakemake: this process's, without any ``SLURM_*``/``SBATCH_*``
            variables, with this interpreter's bin directory first on ``PATH``.
    """

    root: Path
    node: str
    partition: str
    cpus: int
    real_memory_mb: int
    profile: Path
    env: dict[str, str]

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the slurmctld and slurmd logs (for assertion messages)."""
        return _log_tail(self.root, lines)


# ---------------------------------------------------------------- profile merging


def merge_profiles(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Return ``base`` with ``overlay``'s keys on top.

    ``default-resources`` and ``resources`` are merged per resource, ``set-resources`` per rule
    and resource; every other key is replaced. Template keys of the base (``__use_yte__``,
    ``__definitions__``) are kept, so its expressions are evaluated by Snakemake as usual.
    """
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if key in ("default-resources", "resources") and isinstance(value, dict):
            merged[key] = {**(merged.get(key) or {}), **value}
        elif key == "set-resources" and isinstance(value, dict):
            rules = copy.deepcopy(merged.get(key) or {})
            for rule, resources in value.items():
                rules[rule] = {**(rules.get(rule) or {}), **resources}
            merged[key] = rules
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_profile(path: Path) -> dict[str, Any]:
    """Read one profile file (``config.v8+.yaml``) as a plain mapping."""
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"profile {path}: expected a YAML mapping at top level")
    return data


def write_merged_profile(dest: Path, base: Path = PROJECT_SLURM_PROFILE, overlay: Path = LOOPBACK_OVERLAY) -> Path:
    """Write ``merge_profiles(base, overlay)`` to ``dest/config.v8+.yaml``; return ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    merged = merge_profiles(load_profile(base), load_profile(overlay))
    tmp = dest / (PROFILE_FILE + ".tmp")
    tmp.write_text(yaml.safe_dump(merged, sort_keys=False), encoding="utf-8")
    os.replace(tmp, dest / PROFILE_FILE)
    return dest


# ---------------------------------------------------------------- small helpers


def _run(
    cmd: list[str], timeout: float = COMMAND_TIMEOUT_S, check: bool = True, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` with captured text output under ``timeout`` seconds."""
    log.debug("running %s", " ".join(cmd))
    if "input" not in kwargs:
        kwargs["stdin"] = subprocess.DEVNULL
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, cmd, output=result.stdout, stderr=result.stderr)
    return result


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _log_tail(root: Path, lines: int) -> str:
    parts = []
    for name in ("slurmctld.log", "slurmd.log"):
        path = root / "log" / name
        if path.exists():
            text = path.read_text(encoding="utf-8", errors="replace")
            parts.append(f"--- {path} (tail)\n{_tail(text, lines)}")
    return "\n".join(parts)


def _missing_commands() -> list[str]:
    return [c for c in REQUIRED_COMMANDS if shutil.which(c) is None]


def _apt_get(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "-q", "-o", "DPkg::Lock::Timeout=120", *args]
    return _run(cmd, timeout=APT_TIMEOUT_S, check=False, env=env)


def ensure_slurm_installed() -> None:
    """Make sure the slurm and munge commands exist, installing Debian packages if needed.

    ``apt-get update`` runs only if the first install attempt fails (stale or missing lists).
    Raises SlurmUnavailable when not root, without apt-get, or when apt-get fails.
    """
    if os.geteuid() != 0:
        raise SlurmUnavailable("the test SLURM cluster needs root (daemons run as SlurmUser=root)")
    if not _missing_commands():
        return
    if shutil.which("apt-get") is None:
        raise SlurmUnavailable(
            f"missing {', '.join(_missing_commands())} and no apt-get to install {' '.join(APT_PACKAGES)}"
        )
    log.info("installing %s with apt-get", " ".join(APT_PACKAGES))
    try:
        result = _apt_get("install", "-y", *APT_PACKAGES)
        if result.returncode != 0:
            update = _apt_get("update")
            if update.returncode != 0:
                raise SlurmUnavailable(f"apt-get update failed:\n{_tail(update.stderr)}")
            result = _apt_get("install", "-y", *APT_PACKAGES)
    except subprocess.TimeoutExpired as exc:
        raise SlurmUnavailable(f"apt-get timed out after {exc.timeout} s") from exc
    if result.returncode != 0:
        raise SlurmUnavailable(f"apt-get install {' '.join(APT_PACKAGES)} failed:\n{_tail(result.stderr)}")
    if _missing_commands():
        raise SlurmUnavailable(f"still missing after install: {', '.join(_missing_commands())}")


def _short_hostname() -> str:
    try:
        name = _run(["hostname", "-s"]).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        name = ""
    return name or socket.gethostname().split(".")[0]


def _node_hardware() -> tuple[int, int]:
    """(CPUs, RealMemory in MB) as ``slurmd -C`` reports them."""
    out = _run(["slurmd", "-C"]).stdout
    cpus = re.search(r"\bCPUs=(\d+)", out)
    memory = re.search(r"\bRealMemory=(\d+)", out)
    if cpus is None or memory is None:
        raise SlurmClusterError(f"cannot read CPUs/RealMemory from `slurmd -C`: {out!r}")
    return int(cpus.group(1)), int(memory.group(1))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Seconds slurmctld keeps the record of a finished job (`scontrol show jobs`). The default, 300 s,
# let a slow run of test_workflow_slurm.py lose its first train job before counting the jobs
# (`assert 2 == 3`); 12 hours outlast any test run (each Snakemake call is cut at 15 minutes) so
# the job list no longer depends on the machine's speed. SLURM's own tests keep records the same way.
MIN_JOB_AGE_S = 12 * 3600
# Minutes a job may run past its time limit before slurmctld cancels it (a soft limit, as many
# clusters configure). test_workflow_slurm.py's chained training asks for `-t 1` and stops itself
# after its 0.5 min time budget; on a loaded 2-core machine Snakemake's job start-up alone took
# 20-35 s, which pushed a 1-minute allocation past its limit. The grace keeps the test about the
# chain (pause, retry, resume), not about how fast this machine starts a job.
OVER_TIME_LIMIT_MIN = 2


def _slurm_conf(root: Path, node: str, cpus: int, memory_mb: int) -> str:
    ctld_port, d_port = _free_port(), _free_port()
    while d_port == ctld_port:
        d_port = _free_port()
    return f"""\
# Written by tests/slurm_cluster.py for a throwaway test cluster.
ClusterName=ci
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={root}/state/ctld
SlurmdSpoolDir={root}/state/d
SlurmctldPidFile={root}/run/slurmctld.pid
SlurmdPidFile={root}/run/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
GresTypes=gpu
MinJobAge={MIN_JOB_AGE_S}
OverTimeLimit={OVER_TIME_LIMIT_MIN}
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} Gres=gpu:1 State=UNKNOWN
PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


def _gres_conf(node: str) -> str:
    return f"AutoDetect=off\nNodeName={node} Name=gpu File=/dev/null\n"


def _link_etc(etc: Path) -> list[Path]:
    """Symlink etc/slurm.conf and etc/gres.conf at /etc/slurm/; return the links made."""
    ETC_SLURM.mkdir(parents=True, exist_ok=True)
    links = []
    for name in ("slurm.conf", "gres.conf"):
        link = ETC_SLURM / name
        if link.exists() and not link.is_symlink():
            raise SlurmUnavailable(f"{link} is a real file (a configured SLURM installation?); refusing to replace it")
    for name in ("slurm.conf", "gres.conf"):
        link = ETC_SLURM / name
        if link.is_symlink():
            link.unlink()
        link.symlink_to(etc / name)
        links.append(link)
    return links


def _unlink_etc(links: list[Path], etc: Path) -> None:
    for link in links:
        with contextlib.suppress(OSError):
            if link.is_symlink() and Path(os.readlink(link)).parent == etc:
                link.unlink()


def _munge_works() -> bool:
    try:
        cred = _run(["munge", "-n"], timeout=10, check=False)
        if cred.returncode != 0:
            return False
        return _run(["unmunge"], timeout=10, check=False, input=cred.stdout).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _start_daemon(cmd: list[str], root: Path) -> None:
    """Run a self-daemonizing command; its start-up output goes to root/log/<name>.out."""
    name = Path(cmd[-1] if cmd[0] == "runuser" else cmd[0]).name
    with open(root / "log" / f"{name}.out", "ab") as out:
        result = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=COMMAND_TIMEOUT_S,
            start_new_session=True,
        )
    if result.returncode != 0:
        text = (root / "log" / f"{name}.out").read_text(encoding="utf-8", errors="replace")
        raise SlurmClusterError(f"{' '.join(cmd)} exited {result.returncode}: {_tail(text)}")


def _start_munged(root: Path) -> Path | None:
    """Start munged as user munge unless one already answers; return its pid file if ours.

    The caller waits for it to answer (``_munge_works``).
    """
    if _munge_works():
        log.info("reusing the munged that is already running")
        return None
    run_dir = MUNGE_PID_FILE.parent
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.chown(run_dir, "munge", "munge")
    run_dir.chmod(0o755)
    _start_daemon(["runuser", "-u", "munge", "--", shutil.which("munged") or "munged"], root)
    return MUNGE_PID_FILE


def _wait_for(predicate: Any, timeout: float, what: str, root: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    logs = f"\n{_log_tail(root, 30)}" if root is not None else ""
    raise SlurmClusterError(f"timed out after {timeout} s waiting for {what}{logs}")


def _node_state(node: str) -> str:
    try:
        out = _run(["sinfo", "-h", "-N", "-n", node, "-o", "%T"], timeout=10, check=False)
    except subprocess.TimeoutExpired:
        return ""
    return out.stdout.strip()


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return re.search(r"^State:\s+Z", status, re.MULTILINE) is None


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _stop_daemon(pid_file: Path, name: str) -> None:
    """SIGTERM the ``name`` process whose pid is in ``pid_file``; SIGKILL if it lingers."""
    pid = _read_pid(pid_file)
    if pid is None or not _alive(pid) or _comm(pid) != name:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + DAEMON_EXIT_TIMEOUT_S
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        log.warning("%s (pid %d) ignored SIGTERM; sending SIGKILL", name, pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + DAEMON_EXIT_TIMEOUT_S
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)


def _cancel_all_jobs(root: Path) -> None:
    """scancel every job of root and wait (bounded) until the queue is empty."""
    pid = _read_pid(root / "run" / "slurmctld.pid")
    if pid is None or not _alive(pid):
        return
    _run(["scancel", "-u", "root"], check=False)
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while time.monotonic() < deadline:
        queue = _run(["squeue", "-h", "-o", "%i"], timeout=10, check=False)
        if queue.returncode != 0 or not queue.stdout.strip():
            return
        time.sleep(0.5)
    log.warning("jobs still queued %d s after scancel", DRAIN_TIMEOUT_S)


# ---------------------------------------------------------------- the context manager


@contextlib.contextmanager
def local_slurm_cluster(
    tmpdir: Path | str,
    base_profile: Path = PROJECT_SLURM_PROFILE,
    overlay_profile: Path = LOOPBACK_OVERLAY,
) -> Iterator[LocalSlurmCluster]:
    """Start a single-node SLURM cluster under ``tmpdir``; stop it on exit, whatever happened.

    Yields a LocalSlurmCluster whose ``profile`` is ``base_profile`` merged with
    ``overlay_profile`` (see merge_profiles) and whose ``env`` is the environment for Snakemake.

    Raises:
        SlurmUnavailable: not root, no apt-get, apt-get failed, or /etc/slurm holds a real
            configuration (the caller may skip).
        SlurmClusterError: the daemons did not come up (message includes their logs).
    """
    ensure_slurm_installed()
    root = Path(tmpdir).resolve()
    for sub in ("etc", "state/ctld", "state/d", "run", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    node = _short_hostname()
    cpus, memory_mb = _node_hardware()
    etc = root / "etc"
    (etc / "slurm.conf").write_text(_slurm_conf(root, node, cpus, memory_mb), encoding="utf-8")
    (etc / "gres.conf").write_text(_gres_conf(node), encoding="utf-8")
    profile = write_merged_profile(root / "profile", base_profile, overlay_profile)

    links: list[Path] = []
    munge_pid_file: Path | None = None
    try:
        try:
            links = _link_etc(etc)
            munge_pid_file = _start_munged(root)
            _wait_for(_munge_works, 10, "munged to answer `munge -n | unmunge`")
            conf = str(etc / "slurm.conf")
            _start_daemon(["slurmctld", "-f", conf], root)
            _start_daemon(["slurmd", "-f", conf], root)
            _wait_for(lambda: _node_state(node) == "idle", NODE_IDLE_TIMEOUT_S, f"node {node} to be idle", root)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise SlurmClusterError(f"starting the SLURM test cluster failed: {exc}\n{_log_tail(root, 30)}") from exc
        log.info("SLURM test cluster up: node %s, %d CPUs, %d MB", node, cpus, memory_mb)
        yield LocalSlurmCluster(
            root=root,
            node=node,
            partition=PARTITION,
            cpus=cpus,
            real_memory_mb=memory_mb,
            profile=profile,
            env=snakemake_env(),
        )
    finally:
        _shutdown(root, munge_pid_file, links, etc)


def _shutdown(root: Path, munge_pid_file: Path | None, links: list[Path], etc: Path) -> None:
    """Cancel jobs, stop slurmd, slurmctld and (our) munged, remove the /etc/slurm links.

    Each step runs even if an earlier one failed; steps whose daemon is not running do nothing.
    """
    run = root / "run"
    steps: list[tuple[str, Any]] = [
        ("scancel", lambda: _cancel_all_jobs(root)),
        ("slurmd", lambda: _stop_daemon(run / "slurmd.pid", "slurmd")),
        ("slurmctld", lambda: _stop_daemon(run / "slurmctld.pid", "slurmctld")),
    ]
    if munge_pid_file is not None:
        steps.append(("munged", lambda: _stop_daemon(munge_pid_file, "munged")))
    steps.append(("/etc/slurm links", lambda: _unlink_etc(links, etc)))
    for what, step in steps:
        try:
            step()
        except Exception:  # keep going: every later step must still run
            log.exception("stopping the SLURM test cluster: %s failed", what)
