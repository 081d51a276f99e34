"""Atomic file output: readers never see a partial file.

Everything is written to a temporary file in the destination's directory, flushed, and only then
renamed onto the destination with ``os.replace`` (atomic on POSIX); on any error the temporary file
is removed and the destination is left untouched. The file gets the permissions of any new file
(0666 minus the umask), so results are as readable by a team as files written with ``open``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``.

    The caller writes the whole file to the yielded path (creating parent folders is done here).
    If the ``with`` body raises, the temporary file is deleted and the exception propagates. The
    temporary name is hidden and ends in ``.tmp``, never in the destination's extension, so a glob
    such as ``*.parquet`` cannot pick up a file that is still being written.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600 files whatever the umask
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    """The process umask (reading it means setting it; set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (fsync'ed before the rename)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8, newlines untranslated) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))
