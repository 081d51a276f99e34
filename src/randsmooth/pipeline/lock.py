"""One Snakemake run per results folder: an advisory lock that also holds across clones.

Snakemake locks the outputs of a run in ``.snakemake/`` of its working directory, so two clones of
the repository (or two working directories) writing into one absolute ``results`` folder would both
run every job. The workflow takes this lock when it starts executing (not on a dry run): a POSIX
``lockf`` lock on ``<results>/.randsmooth.lock`` (also on NFS), held by the Snakemake process until
it exits; the file names the holder (host, pid, working directory) for the error message.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path
from typing import IO

LOCK_NAME = ".randsmooth.lock"


def acquire(results: str | os.PathLike[str]) -> IO[str]:
    """Lock the results folder (created if needed); return the open lock file, which holds the lock
    until it is closed or the process exits. ``ValueError`` (one line naming the holder) when another
    process holds it."""
    folder = Path(results or ".").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / LOCK_NAME, "a+", encoding="utf-8")  # noqa: SIM115 (held open on purpose)
    try:
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        if exc.errno not in (errno.EACCES, errno.EAGAIN):
            raise
        raise ValueError(
            f"results folder {folder} is in use by another Snakemake run ({holder}); wait for it to "
            f"finish, or set a different 'results' (the lock is {folder / LOCK_NAME})"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}, working directory {os.getcwd()}\n")
    handle.flush()
    return handle
