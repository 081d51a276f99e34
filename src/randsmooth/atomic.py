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
from contextlib import ExitStack, contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``.

    The caller writes the whole file to the yielded path (creating parent folders is done here).
    If the ``with`` body raises, the temporary file is deleted and the exception propagates. The
    temporary name is hidden and ends in ``.tmp``, never in the destination's extension, so a glob
    such as ``*.parquet`` cannot pick up a file that is still being written.
    """
    with atomic_paths(path) as (tmp,):
        yield tmp


@contextmanager
def atomic_paths(*paths: str | os.PathLike[str]) -> Iterator[list[Path]]:
    """:func:`atomic_path` for the several outputs of one command: yield one temporary path per
    destination; only after the body has written all of them are they renamed, in order. A failure
    while writing (a full disk, a file-size limit) leaves every destination as it was, so a command
    never leaves part of its outputs next to older ones."""
    with ExitStack() as stack:
        temps = [stack.enter_context(_temporary(Path(p))) for p in paths]
        try:
            yield temps
        except OSError as exc:  # name the destination, not the hidden temporary (or nothing)
            if exc.errno is None:
                raise
            named = {str(t): str(p) for t, p in zip(temps, paths, strict=True)}
            where = named.get(str(exc.filename), ", ".join(str(p) for p in paths))
            raise OSError(exc.errno, os.strerror(exc.errno), where) from exc
        for tmp, dest in zip(temps, paths, strict=True):
            os.replace(tmp, dest)


@contextmanager
def _temporary(dest: Path) -> Iterator[Path]:
    """A hidden temporary file next to ``dest`` (removed on exit unless renamed away)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600 files whatever the umask
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    """The process umask (reading it means setting it; set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (fsync'ed before the rename)."""
    with atomic_path(path) as tmp:
        write_synced(tmp, data)
    return Path(path)


def write_synced(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` and fsync it (for a temporary of :func:`atomic_paths`)."""
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8, newlines untranslated) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))
