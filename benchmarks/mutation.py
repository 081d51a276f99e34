"""Mutation check of the training losses, the decision rules and the confidence bounds.

Not a test, and not run in CI (it takes tens of minutes). Each mutant changes one place of one
source file -- a flipped sign or operator (+/-, *//, &/|), a changed reduction (mean/sum,
max/min, min()/max(), max(...).values -> mean(...)), a perturbed numeric constant (int n -> n + 1,
float c -> 2c, 0.0 -> 1.0) or a flipped comparison (< / <=, > / >=, == / !=) -- in a temporary
copy of ``src/`` and ``tests/``, and runs the tests that cover it (stopping at the first failure,
with a time limit per mutant). A mutant is *killed* if a test fails (or the run times out),
*survived* otherwise. Prints one line per mutant and the score (killed / total).

Which tests run: before the mutants, the test files of every target (``TARGETS``) run once
unmutated with a line tracer (``benchmarks/mutation_trace.py``) that records, per test, the lines
of the mutated files it executes. A mutant then runs only the tests that execute one of its lines,
fastest first, each run in a forked child of a process that has imported torch, numpy, scipy and
pytest once (a few seconds less per mutant). A mutant that survives them is rerun against the
whole test files of its source file, so the verdict is the same as running every covering file
(only faster); a mutant whose lines no test executes is *uncovered* (a survivor, not run); one
whose lines run only at import time (module constants, default arguments) runs the whole files.

    python benchmarks/mutation.py [--max-per-file 15] [--seed 0] [--files src/randsmooth/decide.py ...]
                                  [--match 'decide.py:180 &'] [--timeout 300] [--out mutation.csv]
                                  [--resume] [--list]

``--max-per-file 0`` runs every mutant; otherwise a seeded sample of that many per file. With
``--out`` each mutant's row is written as soon as it is done; ``--resume`` keeps the rows already in
that file and runs only the other mutants (a killed run is continued, not restarted).
Run it at low priority on a shared machine: ``nice -n 19 python benchmarks/mutation.py``.
"""

from __future__ import annotations

import argparse
import ast
import copy
import csv
import functools
import hashlib
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOSS_TESTS = [
    ["tests/test_losses_values.py"],
    [
        "tests/test_losses.py",
        "tests/test_losses_methods.py",
        "tests/test_losses_cost.py",
        "tests/test_losses_attacks.py",
        "tests/test_losses_sun2025.py",
    ],
    ["tests/test_cost.py", "tests/test_memory.py"],  # the cost model's passes (held_passes, epoch_passes)
]
SEQUENTIAL_TESTS = ["tests/test_sequential.py", "tests/test_soundness.py"]
# source file (relative to the repository) -> stages of test files that cover it: a later stage
# runs only if the mutant survived the earlier ones (the fastest killers first)
TARGETS: dict[str, list[list[str]]] = {
    **{f"src/randsmooth/losses/{p.name}": LOSS_TESTS for p in sorted((REPO / "src/randsmooth/losses").glob("*.py"))},
    # the sequential bounds and decisions (checkpoint CP, mixture CS) are tested in test_sequential
    "src/randsmooth/decide.py": [["tests/test_decide.py"], SEQUENTIAL_TESTS, ["tests/test_certify_cli.py"]],
    "src/randsmooth/bounds.py": [["tests/test_bounds.py"], SEQUENTIAL_TESTS],
}
SKIP = {"src/randsmooth/losses/__init__.py", "src/randsmooth/losses/registry.py"}  # imports and lookup only

logger = logging.getLogger("mutation")

BINOPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.BitAnd: ast.BitOr}
BINOPS[ast.BitOr] = ast.BitAnd
COMPARE = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
METHODS = {"mean": "sum", "sum": "mean", "max": "min", "min": "max", "amax": "amin", "amin": "amax"}
SYMBOL = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
}


@dataclass(frozen=True)
class Mutant:
    """One change: the ``index``-th candidate node of ``path`` (in ast.walk order), described by ``what``."""

    path: str
    index: int
    line: int
    end_line: int
    kind: str
    what: str


def _docstring_nodes(tree: ast.AST) -> set[int]:
    """ids of docstring constants (never mutated)."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _skipped_nodes(tree: ast.AST) -> set[int]:
    """ids of nodes inside docstrings, annotations, f-strings, raise statements and logging calls."""
    ids = _docstring_nodes(tree)
    for node in ast.walk(tree):
        annotations = []
        if isinstance(node, (ast.arg, ast.AnnAssign)) and node.annotation is not None:
            annotations.append(node.annotation)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            annotations.append(node.returns)
        for annotation in annotations:  # never evaluated (from __future__ import annotations)
            ids.update(id(n) for n in ast.walk(annotation))
        quiet = isinstance(node, (ast.JoinedStr, ast.Raise))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            quiet |= isinstance(node.func.value, ast.Name) and node.func.value.id == "logger"
        if quiet:
            ids.update(id(n) for n in ast.walk(node))
    return ids


def _changes(node: ast.AST) -> Iterator[tuple[str, str]]:
    """(kind, description) of every mutation of ``node`` (applied in the same order by :func:`_apply`)."""
    if isinstance(node, ast.BinOp) and type(node.op) in BINOPS:
        yield "sign", f"{SYMBOL[type(node.op)]} -> {SYMBOL[BINOPS[type(node.op)]]}"
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        yield "sign", "-x -> x"
    elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in COMPARE:
        yield "comparison", f"{SYMBOL[type(node.ops[0])]} -> {SYMBOL[COMPARE[type(node.ops[0])]]}"
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        yield "constant", f"{node.value!r} -> {_perturbed(node.value)!r}"
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in METHODS:
        yield "reduction", f".{node.func.attr}( -> .{METHODS[node.func.attr]}("
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("min", "max"):
        yield "reduction", f"{node.func.id}( -> {METHODS[node.func.id]}("
    elif (
        isinstance(node, ast.Attribute)
        and node.attr == "values"
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Attribute)
        and node.value.func.attr in ("max", "min")
    ):
        yield "reduction", f".{node.value.func.attr}(...).values -> .mean(...)"


def _perturbed(value: int | float) -> int | float:
    if isinstance(value, int):
        return value + 1
    return 1.0 if value == 0 else 2 * value


def _apply(node: ast.AST) -> ast.AST:
    """The mutated copy of ``node`` (see :func:`_changes`)."""
    new = copy.deepcopy(node)
    if isinstance(new, ast.BinOp):
        new.op = BINOPS[type(new.op)]()
    elif isinstance(new, ast.UnaryOp):
        return new.operand
    elif isinstance(new, ast.Compare):
        new.ops = [COMPARE[type(new.ops[0])]()]
    elif isinstance(new, ast.Constant):
        new.value = _perturbed(new.value)
    elif isinstance(new, ast.Call) and isinstance(new.func, ast.Attribute):
        new.func.attr = METHODS[new.func.attr]
    elif isinstance(new, ast.Call):
        new.func.id = METHODS[new.func.id]
    else:  # x.max(...).values -> x.mean(...)
        call = new.value
        call.func.attr = "mean"
        return call
    return new


@functools.cache
def source(path: str) -> str:
    """The text of a source file as this run first read it (later edits of the tree do not reach
    the run: node indexes refer to this text)."""
    return (REPO / path).read_text()


def version(path: str) -> str:
    """Short hash of :func:`source`: a CSV row is resumed only for the same text."""
    return hashlib.sha256(source(path).encode()).hexdigest()[:12]


def candidates(path: str) -> list[Mutant]:
    """Every mutant of one source file, in ast.walk order."""
    tree = ast.parse(source(path))
    skipped = _skipped_nodes(tree)
    found = []
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skipped:
            continue
        for kind, what in _changes(node):
            line = getattr(node, "lineno", 0)
            found.append(Mutant(path, index, line, getattr(node, "end_lineno", None) or line, kind, what))
    return found


def mutated_source(mutant: Mutant) -> str:
    """Source of ``mutant.path`` with the one change applied (re-generated by ast.unparse)."""
    tree = ast.parse(source(mutant.path))
    target = list(ast.walk(tree))[mutant.index]

    class Replace(ast.NodeTransformer):
        def generic_visit(self, node: ast.AST) -> ast.AST:
            if node is target:
                return _apply(node)
            return super().generic_visit(node)

    return ast.unparse(ast.fix_missing_locations(Replace().visit(tree)))


def preload() -> None:
    """Import the heavy third-party modules the tests use once, in this process, so that each
    forked test run (:func:`run_pytest`) starts without them (never ``randsmooth``: the children
    import it from the work tree)."""
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import pytest  # noqa: F401
    import scipy.optimize  # noqa: F401
    import scipy.special  # noqa: F401
    import scipy.stats  # noqa: F401
    import torch  # noqa: F401
    import torch.nn.functional  # noqa: F401


class _RecordFailures:
    """pytest plugin: appends the node id of every failing test to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def pytest_runtest_logreport(self, report: object) -> None:
        if getattr(report, "failed", False):
            with open(self.path, "a") as handle:
                handle.write(f"{getattr(report, 'nodeid', '')}\n")


def run_pytest(work: Path, args: list[str], timeout: float) -> tuple[int | None, str | None]:
    """``pytest ARGS`` in the work tree, in a forked child of this process (see :func:`preload`):
    (its exit status, or None if it ran longer than ``timeout`` seconds and was killed; the first
    failing test's node id or None)."""
    failed = work / ".failed"
    failed.unlink(missing_ok=True)
    pid = os.fork()
    if pid == 0:  # the child: output discarded, the work tree's src first on the path
        code = 99
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            os.chdir(work)
            sys.path.insert(0, str(work / "src"))
            sys.dont_write_bytecode = True
            import pytest

            code = int(pytest.main(args, plugins=[_RecordFailures(failed)]))
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            killer = failed.read_text().split("\n", 1)[0] if failed.exists() else None
            return os.waitstatus_to_exitcode(status), killer or None
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None, None
        time.sleep(0.05)


def run_tests(work: Path, stages: list[list[str]], timeout: float) -> tuple[str, float, str | None]:
    """('killed' | 'survived' | 'timeout', seconds, the failing test) of the test stages in the work tree.

    Any failure (a failing test, a collection error, a crash) kills the mutant; ``timeout`` is the
    limit per stage (a mutant that makes the tests hang is killed as 'timeout'). A stage is a list
    of pytest arguments (test files or node ids, run in that order).
    """
    started = time.perf_counter()
    for tests in stages:
        code, killer = run_pytest(work, ["-x", "-q", "-p", "no:cacheprovider", "-m", "not slow", *tests], timeout)
        if code is None:
            return "timeout", time.perf_counter() - started, None
        if code != 0:
            return "killed", time.perf_counter() - started, killer
    return "survived", time.perf_counter() - started, None


@dataclass
class Coverage:
    """Per test: seconds and executed lines ({source path relative to the repository: lines});
    ``outside``: the lines executed outside any test (imports, module-level code)."""

    seconds: dict[str, float]
    lines: dict[str, dict[str, set[int]]]
    outside: dict[str, set[int]]
    kills: Counter[str] = field(default_factory=Counter)  # mutants each test killed so far

    def tests_of(self, mutant: Mutant) -> list[str] | None:
        """The node ids that execute a line of ``mutant``, those that killed most mutants so far
        first, then the fastest; None if its lines run only outside tests (then the whole files
        must run); [] if no test executes them."""
        span = set(range(mutant.line, mutant.end_line + 1))
        tests = [test for test, files in self.lines.items() if span & files.get(mutant.path, set())]
        if not tests and span & self.outside.get(mutant.path, set()):
            return None
        return sorted(tests, key=lambda test: (-self.kills[test], self.seconds[test]))


def trace_coverage(work: Path, files: list[str], timeout: float) -> Coverage:
    """Run ``files`` once, unmutated, under the line tracer; raises if a test fails (a test that
    fails only under the tracer, e.g. on a time limit, is rerun without it and must pass)."""
    out = work / "trace.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(work / "src"), str(REPO / "benchmarks")]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "MUTATION_TRACE_ROOT": str(work),
        "MUTATION_TRACE_OUT": str(out),
    }
    cmd = [sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider", "-p", "mutation_trace"]
    proc = subprocess.run(
        [*cmd, "-m", "not slow", *files], cwd=work, env=env, capture_output=True, timeout=timeout, check=False
    )
    output = proc.stdout.decode(errors="replace").strip().splitlines()
    failed = [line.split()[1] for line in output if line.startswith("FAILED ")]
    if proc.returncode != 0 and failed:
        logger.warning("failed under the tracer, rerun without it: %s", " ".join(failed))
    if proc.returncode != 0 and (not failed or run_tests(work, [failed], timeout)[0] != "survived"):
        raise RuntimeError(f"the unmutated tests fail ({' '.join(files)}): {' '.join(output[-1:])}; fix them first")
    data = json.loads(out.read_text())
    seconds = {test: record["seconds"] for test, record in data["tests"].items()}
    lines = {test: {f: set(v) for f, v in record["lines"].items()} for test, record in data["tests"].items()}
    return Coverage(seconds, lines, {f: set(v) for f, v in data["outside"].items()})


def judge(work: Path, mutant: Mutant, coverage: Coverage, timeout: float) -> tuple[str, float, str | None]:
    """(status, seconds, the test that killed it) of one mutant already written to the work tree:
    the covering tests first, then, if it survived them, the whole test files of its source file."""
    tests = coverage.tests_of(mutant)
    if tests == []:
        return "uncovered", 0.0, None
    status, seconds, killer = "survived", 0.0, None
    if tests is not None:
        status, seconds, killer = run_tests(work, [tests], timeout)
    if status == "survived":
        status, more, killer = run_tests(work, TARGETS[mutant.path], timeout)
        seconds += more
    if killer is not None:
        coverage.kills[killer] += 1
    return status, seconds, killer


def _done_rows(out: Path) -> dict[tuple[str, str, str], dict[str, str]]:
    """Rows of a previous run's CSV, by (file, node, mutation); rows of a mutated file whose text
    has changed since (another :func:`version`) are dropped, to be run again."""
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    kept = [r for r in rows if r["file"] not in TARGETS or r.get("source") == version(r["file"])]
    if len(kept) < len(rows):
        logger.info("%d rows of changed source files dropped from %s", len(rows) - len(kept), out)
    return {(row["file"], row["node"], row["mutation"]): row for row in kept}


def copy_tree(work: Path) -> None:
    for name in ("src", "tests", "benchmarks", "config", "workflow"):  # what the covering tests read
        shutil.copytree(REPO / name, work / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "Snakefile"):
        shutil.copy2(REPO / name, work / name)


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(f"terminated by signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs="*", default=sorted(set(TARGETS) - SKIP), help="source files to mutate")
    parser.add_argument(
        "--match",
        action="append",
        default=None,
        help="only mutants whose 'file:line mutation' contains this (repeatable)",
    )
    parser.add_argument("--max-per-file", type=int, default=15, help="seeded sample per file (0 = every mutant)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per test stage (then: killed)")
    parser.add_argument("--out", type=Path, default=None, help="CSV with one row per mutant")
    parser.add_argument("--resume", action="store_true", help="keep the rows already in --out, run the others")
    parser.add_argument("--list", action="store_true", help="only list the mutants")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)  # clean up the work tree and the running tests on kill
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    unknown = [f for f in args.files if f not in TARGETS]
    if unknown:
        print(f"error: no test files known for {unknown}; expected some of {sorted(TARGETS)}", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    mutants: list[Mutant] = []
    for path in args.files:
        found = candidates(path)
        if args.match is not None:
            found = [m for m in found if any(text in f"{m.path}:{m.line} {m.what}" for text in args.match)]
        if args.max_per_file and len(found) > args.max_per_file:
            found = sorted(rng.sample(found, args.max_per_file), key=lambda m: m.index)
        mutants.extend(found)
    if args.list:
        for m in mutants:
            print(f"{m.path}:{m.line}\t{m.kind}\t{m.what}")
        print(f"{len(mutants)} mutants")
        return 0

    fields = ["file", "node", "line", "kind", "mutation", "status", "seconds", "killer", "source"]
    done: dict[tuple[str, str, str], dict[str, str]] = {}
    if args.resume and args.out is not None and args.out.exists():
        done = _done_rows(args.out)
    rows: list[dict[str, object]] = [row for row in done.values()]
    todo = [m for m in mutants if (m.path, str(m.index), m.what) not in done]
    logger.info("%d mutants, %d already done, %d to run", len(mutants), len(mutants) - len(todo), len(todo))
    out = None if args.out is None else open(args.out, "w", newline="")  # noqa: SIM115 (written row by row)
    writer = None if out is None else csv.DictWriter(out, fieldnames=fields, restval="", extrasaction="ignore")
    if writer is not None:  # the resumed rows first
        writer.writeheader()
        writer.writerows(done.values())
        out.flush()
    try:
        with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
            work = Path(tmp)
            copy_tree(work)
            for path in {m.path for m in mutants}:  # the text the mutants were made from
                (work / path).write_text(source(path))
            preload()
            files = sorted({f for path in {m.path for m in todo} for stage in TARGETS[path] for f in stage})
            coverage = trace_coverage(work, files, 10 * args.timeout) if files else Coverage({}, {}, {})
            logger.info("traced %d tests of %s", len(coverage.seconds), " ".join(files))
            coverage.kills.update(row["killer"] for row in done.values() if row.get("killer"))
            for number, mutant in enumerate(todo, 1):
                original = source(mutant.path)
                (work / mutant.path).write_text(mutated_source(mutant))
                try:
                    status, seconds, killer = judge(work, mutant, coverage, args.timeout)
                finally:
                    (work / mutant.path).write_text(original)
                where = f"{mutant.path}:{mutant.line}"
                logger.info("[%d/%d] %s %s %s (%.0f s)", number, len(todo), status, where, mutant.what, seconds)
                values = [mutant.path, mutant.index, mutant.line, mutant.kind, mutant.what, status, round(seconds, 1)]
                values += [killer or "", version(mutant.path)]
                row = dict(zip(fields, values, strict=True))
                rows.append(row)
                if writer is not None:
                    writer.writerow(row)
                    out.flush()
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if out is not None:
            out.close()

    killed = sum(row["status"] in ("killed", "timeout") for row in rows)
    for row in rows:
        if row["status"] not in ("killed", "timeout"):
            print(f"{row['status']}: {row['file']}:{row['line']} {row['kind']} {row['mutation']}")
    print(f"mutation score: {killed}/{len(rows)} killed ({100.0 * killed / max(len(rows), 1):.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
