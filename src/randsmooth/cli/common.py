"""What every command shares: one-line argument errors and one-line user errors (exit status 2)."""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from ..device import DeviceUnavailableError

EXIT_USER_ERROR = 2
EXIT_BROKEN_PIPE = 128 + 13  # as a program killed by SIGPIPE: the reader (e.g. `| head`) stopped reading
# Failures of the disk or folder written to: one line naming the file, like a user error.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EPERM})
# Exceptions that describe a mistake of the user (an argument, a file, a setting), not a bug.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
    DeviceUnavailableError,
    TimeoutError,
)


class UsageError(ValueError):
    """A bad command line (reported by :func:`command` as one line, exit status 2)."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line: ``error: <prog>: <message>``, exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def disk_error(exc: OSError) -> str:
    """``<file>: No space left on device`` (the file written to, and the system's reason)."""
    where = exc.filename if exc.filename is not None else "writing the outputs"
    return f"{where}: {exc.strerror or exc}"


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that flushing it at exit does not raise again (Python docs,
    "Note on SIGPIPE")."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def one_line(message: Any) -> str:
    return " ".join(str(message).split())


def command(func: Callable[[list[str]], int | None]) -> Callable[[Sequence[str] | None], int]:
    """Decorate a command's ``main``: logging set up, user errors -> one line and exit status 2."""

    @functools.wraps(func)
    def main(argv: Sequence[str] | None = None) -> int:
        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        try:
            return int(func(list(sys.argv[1:] if argv is None else argv)) or 0)
        except BrokenPipeError:
            _silence_stdout()
            return EXIT_BROKEN_PIPE
        except USER_ERRORS as exc:
            print(f"error: {one_line(exc)}", file=sys.stderr)
            return EXIT_USER_ERROR
        except OSError as exc:
            if exc.errno not in DISK_ERRNOS:
                raise
            print(f"error: {one_line(disk_error(exc))}", file=sys.stderr)
            return EXIT_USER_ERROR

    return main


def read_json_file(path: str | Path, what: str) -> Any:
    """Parse a JSON file; one-line errors naming ``what`` (the option) and the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path}: no such file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} {path}: not valid JSON ({exc})") from None


def key_value(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> (KEY, VALUE parsed as JSON when possible, else the text)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def key_values(items: Sequence[tuple[str, Any]], option: str) -> dict[str, Any]:
    """A dict from parsed ``KEY=VALUE`` items; a key given twice is an error naming ``option``."""
    out: dict[str, Any] = {}
    for key, value in items:
        if key in out:
            raise ValueError(f"{option} {key} given twice")
        out[key] = value
    return out
