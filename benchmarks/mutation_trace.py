"""pytest plugin for ``benchmarks/mutation.py``: which test executes which line of the mutated files.

Loaded with ``-p mutation_trace`` (``benchmarks/`` on ``PYTHONPATH``). Traces every Python line
executed in files under ``$MUTATION_TRACE_ROOT`` and writes ``$MUTATION_TRACE_OUT`` (JSON):
``{"tests": {nodeid: {"seconds": s, "lines": {file: [line, ...]}}}, "outside": {file: [line, ...]}}``
where ``file`` is relative to the root and ``outside`` holds the lines run outside any test (imports,
collection, module-level code).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from types import CodeType, FrameType
from typing import Any

import pytest

ROOT = os.environ.get("MUTATION_TRACE_ROOT", "")
_wanted: dict[CodeType, str | None] = {}
_current: dict[str, set[int]] = defaultdict(set)
_outside = _current
_tests: dict[str, dict[str, Any]] = {}


def _relative(code: CodeType) -> str | None:
    if code not in _wanted:
        name = os.path.abspath(code.co_filename)
        _wanted[code] = os.path.relpath(name, ROOT) if ROOT and name.startswith(ROOT + os.sep) else None
    return _wanted[code]


def _trace(frame: FrameType, event: str, arg: object):  # noqa: ANN202 (sys.settrace protocol)
    rel = _relative(frame.f_code)
    if rel is None:
        return None
    _current[rel].add(frame.f_lineno)

    def local(frame: FrameType, event: str, arg: object):  # noqa: ANN202
        if event == "line":
            _current[rel].add(frame.f_lineno)
        return local

    return local


def pytest_configure(config: pytest.Config) -> None:
    sys.settrace(_trace)
    threading.settrace(_trace)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    global _current
    _current = defaultdict(set)
    started = time.perf_counter()
    yield
    _tests[item.nodeid] = {
        "seconds": time.perf_counter() - started,
        "lines": {path: sorted(lines) for path, lines in _current.items()},
    }
    _current = _outside


def pytest_unconfigure(config: pytest.Config) -> None:
    sys.settrace(None)
    threading.settrace(None)  # type: ignore[arg-type]
    out = os.environ.get("MUTATION_TRACE_OUT")
    if out:
        outside = {path: sorted(lines) for path, lines in _outside.items()}
        with open(out, "w") as handle:
            json.dump({"tests": _tests, "outside": outside}, handle)
