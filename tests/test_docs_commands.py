"""Every documented command runs: ``snakemake ...`` and ``python -m randsmooth ...`` as the docs show them.

The commands are extracted from README.md and config/README.md (fenced code blocks, with ``\\``
continuations joined, and inline code spans in tables and text) and from the comment header of
every shipped config file. Each one is classified here, and each class is checked as far as it
can be without a GPU or a finished run:

* **dry run**: a Snakemake command is run as typed from the repository root with ``-n`` and the
  results folder moved to an empty temporary folder (``--config=results=...`` and documented
  ``results/...`` targets rewritten into it). Its config is the one it names, or the default
  ``config/config.yaml`` when it names none, exactly as Snakemake would read it. A fragment that
  ends in ``...`` runs on the CI config; a placeholder (``<run>``, ``<target>``, ``N``) is
  replaced by a real instance (``SUBSTITUTIONS``). Alternatives listed beside a command in the same
  table cell (`` `certify_all` ``, ``(also `yang2020`, ...)``) replace its last word.
* **run**: ``snakemake --unlock`` and ``--lint`` (in a temporary working folder), ``python -m
  randsmooth describe``, ``gpu-lease`` (on ``true``), ``--help``, and the README's walk-through
  ``train`` -> ``certify`` -> ``merge`` -> ``metrics`` on the README's own training recipe, with
  the two cost reductions named in ``WALKTHROUGH_CHANGES`` (slow test).
* **parsed only**: ``snakemake --report`` needs a finished run (tests/test_workflow_e2e.py builds
  one on the CI run); here its arguments are parsed by Snakemake's own parser. The option
  synopses (``[--no-resume]``, ...) are checked against the command's ``--help``; a bare command
  name (`` `python -m randsmooth train` ``) runs ``--help``.

Every Snakemake command's arguments are also parsed in-process by Snakemake's parser (fast): each
``--configfile`` value must be an existing file and no target may look like a file name given to
``--configfile`` (the form ``--configfile FILE TARGET`` makes Snakemake read TARGET as a config).
"""

from __future__ import annotations

import concurrent.futures
import re
import shlex
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

import workflow_run

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", REPO / "config" / "README.md"]
CONFIGS = sorted((REPO / "config").glob("*.yaml")) + sorted((REPO / "config" / "papers").rglob("*.yaml"))
SNAKEMAKE = ("snakemake", ".venv/bin/snakemake")
# Snakemake behind the project's check of its config files (randsmooth.cli.snakemake); run as typed
WRAPPER = "python -m randsmooth snakemake"
RANDSMOOTH = ("python", "-m", "randsmooth")
CI_CONFIG = "config/ci.yaml"
# documented placeholder -> the real instance a run uses (<run> is filled in from `describe`)
SUBSTITUTIONS = {
    "<target>": "cohen2019_table1",
    "<paper>": "cohen2019",
    "gpu=N": "gpu=2",
    "--config FILE": f"--config {CI_CONFIG}",
}
# commands that only name the tool, not a command line
TOOL_NAMES = {
    "snakemake",
    "python -m randsmooth",
    "python -m randsmooth …",
    "python -m randsmooth ...",
    "python -m randsmooth snakemake",
}
# the README's certification walk-through, made cheap: documented value -> the value run here
WALKTHROUGH_CHANGES = {"epochs: 6": "epochs: 1", "--n 10000": "--n 200"}
TIMEOUT_S = 300


@dataclass(frozen=True)
class Documented:
    """One documented command: where it is, its text, and alternatives for its last word."""

    source: str
    text: str
    alternatives: tuple[str, ...] = ()


def _is_command(text: str) -> bool:
    words = text.split()
    return bool(words) and (words[0] in SNAKEMAKE or tuple(words[:3]) == RANDSMOOTH)


def _span_commands(source: str, text: str) -> list[Documented]:
    """The commands among the inline code spans of ``text`` (whitespace, line breaks too, collapsed);
    the one-word spans after a command, before the next one, are alternatives for its last word
    (used for table cells)."""
    spans = [" ".join(s.split()) for s in re.findall(r"`([^`]+)`", text)]
    found = []
    for j, span in enumerate(spans):
        if span in TOOL_NAMES or not _is_command(span):
            continue
        later = spans[j + 1 :]
        stop = next((k for k, s in enumerate(later) if _is_command(s)), len(later))
        found.append(Documented(source, span, tuple(s for s in later[:stop] if re.fullmatch(r"\w+", s))))
    return found


def markdown_commands(path: Path) -> list[Documented]:
    """Commands in ``path``'s fenced code blocks (one per line, ``\\`` continuations joined, comments
    dropped), its table cells (with alternatives) and the inline code spans of its text."""
    found: list[Documented] = []
    source = str(path.relative_to(REPO))
    parts = re.split(r"^```.*$", path.read_text(), flags=re.MULTILINE)
    for i, part in enumerate(parts):
        if i % 2:  # inside a fenced block
            for line in re.sub(r"\\\n\s*", " ", part).splitlines():
                line = re.split(r"\s+#", line)[0].strip()
                if _is_command(line):
                    found.append(Documented(source, line))
            continue
        lines = part.splitlines()
        for row in (line for line in lines if line.startswith("|")):
            for cell in re.split(r"(?<!\\)\|", row):
                found += _span_commands(source, cell)
        text = "\n".join(line for line in lines if not line.startswith("|"))
        found += [Documented(c.source, c.text) for c in _span_commands(source, text)]
    return found


def config_header_commands(path: Path) -> list[Documented]:
    """Commands in the leading comment block of a config file (``\\`` continuations joined)."""
    header = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        header.append(line.lstrip("#").strip())
    text = re.sub(r"\\\n\s*", " ", "\n".join(header))
    found = []
    for line in text.splitlines():
        for piece in re.split(r"[(;]\s*(?:or:\s*)?|one paper:\s*", line):
            piece = piece.strip().rstrip(")")
            if _is_command(piece):
                found.append(Documented(str(path.relative_to(REPO)), piece))
    return found


def documented_commands() -> list[Documented]:
    commands = [c for doc in DOCS for c in markdown_commands(doc)]
    return commands + [c for cfg in CONFIGS for c in config_header_commands(cfg)]


def instances(doc: Documented, run_folder: str) -> list[str]:
    """The concrete command lines a documented command stands for (placeholders filled in)."""
    text = doc.text
    for placeholder, value in {**SUBSTITUTIONS, "<run>": run_folder}.items():
        text = text.replace(placeholder, value)
    if text.endswith(("...", "…")):  # a fragment: a Snakemake command runs on the CI config
        text = text.rstrip(".…").rstrip()
        if is_snakemake(text):
            text += f" {CI_CONFIG}" if text.endswith("--configfile") else f" --configfile {CI_CONFIG}"
    lines = [text]
    if doc.alternatives:
        head = text.rsplit(" ", 1)[0]
        lines += [f"{head} {alt}" for alt in doc.alternatives]
    return lines


def classify(line: str) -> str:
    """'dry-run', 'unlock', 'lint', 'report' (Snakemake); 'walkthrough', 'synopsis', 'help',
    'describe', 'gpu-lease', 'cost' (randsmooth)."""
    words = shlex.split(line)
    if is_snakemake(line):
        for option, kind in (("--unlock", "unlock"), ("--lint", "lint"), ("--report", "report")):
            if option in snakemake_args(line):
                return kind
        return "dry-run"
    rest = words[3:]
    if any(w.startswith("[") for w in rest):
        return "synopsis"
    if not rest or rest == ["--help"] or len(rest) == 1:
        return "help"
    if rest[0] in ("describe", "gpu-lease", "cost"):
        return rest[0]
    if rest[0] in ("train", "certify", "merge", "metrics"):
        return "walkthrough"
    raise AssertionError(f"unclassified documented command: {line}")


ALL = documented_commands()


def test_commands_are_found_in_every_document() -> None:
    sources = Counter(c.source for c in ALL)
    assert sources["README.md"] >= 20 and sources["config/README.md"] >= 3, sources
    assert sum(n for source, n in sources.items() if source.endswith(".yaml")) >= 7, sources
    texts = {c.text for c in ALL}
    # the headline commands of README and config/README, and a table row with alternatives
    assert f"{WRAPPER} --cores all --profile slurm --configfile config/papers/cohen2019.yaml" in texts
    assert any(c.alternatives == ("certify_all", "metrics_all") for c in ALL), [c for c in ALL if c.alternatives]
    for doc in ALL:  # every one is classified, every placeholder has an instance
        for line in instances(doc, "RUN"):
            classify(line)
            assert not re.search(r"<\w+>", line), f"{doc.source}: unknown placeholder in {doc.text!r}"


def is_snakemake(line: str) -> bool:
    """A Snakemake command line: ``snakemake ...`` or ``python -m randsmooth snakemake ...``."""
    return line.split(" ", 1)[0] in SNAKEMAKE or line == WRAPPER or line.startswith(WRAPPER + " ")


def snakemake_args(line: str) -> list[str]:
    """The arguments given to Snakemake (after ``snakemake`` or the wrapper)."""
    return shlex.split(line)[len(WRAPPER.split()) if line.startswith(WRAPPER) else 1 :]


@pytest.mark.parametrize("line", sorted({i for d in ALL for i in instances(d, "RUN") if is_snakemake(i)}))
def test_snakemake_parses_the_arguments(line: str) -> None:
    """Snakemake's own parser: each --configfile value is an existing config file, and a target
    never follows --configfile (where Snakemake would read it as one more config file)."""
    from snakemake.cli import get_argument_parser

    args = get_argument_parser().parse_args(snakemake_args(line))
    for path in args.configfile or []:
        assert (REPO / path).is_file() and str(path).endswith(".yaml"), f"{line}: --configfile {path}"


# ----------------------------------------------------------------------------- runs
def _rewrite_results(args: list[str], results: Path) -> list[str]:
    return [str(results / a.removeprefix("results/")) if a.startswith("results/") else a for a in args]


def run_documented_snakemake(line: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    """The command as typed, from the repository root (a temporary folder for --unlock/--lint),
    with -n and the results folder in ``tmp``."""
    kind = classify(line)
    results = tmp / "results"
    args = _rewrite_results(snakemake_args(line), results)
    if kind in ("unlock", "lint"):
        return workflow_run.run_snakemake(tmp / "work", *args, timeout=TIMEOUT_S)
    if line.startswith(WRAPPER):
        return run_randsmooth("snakemake", "-n", "--quiet=rules", f"--config=results={results}", *args)
    return workflow_run.run_snakemake(
        REPO, "-n", "--quiet=rules", f"--config=results={results}", *args, timeout=TIMEOUT_S
    )


def run_randsmooth(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "randsmooth", *args],
        cwd=cwd,
        env=workflow_run.snakemake_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


@pytest.fixture(scope="module")
def run_folder() -> str:
    """``describe`` of the default config (documented): the folder of its first run, for <run>."""
    result = run_randsmooth("describe", "--config", "config/config.yaml")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    return next(Path(row[3]).parent.name for row in rows if row[0] == "run")


SNAKEMAKE_LINES = sorted({i for d in ALL for i in instances(d, "<run>") if is_snakemake(i) and classify(i) != "report"})


@pytest.fixture(scope="module")
def snakemake_runs(
    run_folder: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    """Every documented Snakemake command (deduplicated), three at a time."""
    root = tmp_path_factory.mktemp("docs")

    def one(item: tuple[int, str]) -> tuple[Path, subprocess.CompletedProcess[str]]:
        index, line = item
        tmp = root / str(index)
        tmp.mkdir()
        return tmp, run_documented_snakemake(line.replace("<run>", run_folder), tmp)

    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip(SNAKEMAKE_LINES, pool.map(one, enumerate(SNAKEMAKE_LINES)), strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("line", SNAKEMAKE_LINES)
def test_documented_snakemake_command_runs(snakemake_runs: dict, line: str) -> None:
    tmp, result = snakemake_runs[line]
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{line}\n{output[-3000:]}"
    if classify(line) == "dry-run":
        assert "This was a dry-run" in output or "Nothing to be done" in output, output[-2000:]
        assert not (tmp / "results").exists(), "a dry run must not create outputs"


# the default suite's subset (a few seconds each): the form with a target and --configfile, and
# the CI fragment under the slurm profile; the slow test above runs every one
FAST_LINES = [
    f"{WRAPPER} --cores 1 cohen2019_published_logs --configfile config/papers/cohen2019.yaml",
    "snakemake -n --profile slurm --configfile config/ci.yaml",
]


@pytest.mark.parametrize("line", FAST_LINES)
def test_documented_snakemake_command_runs_fast_subset(line: str, tmp_path: Path) -> None:
    assert line in SNAKEMAKE_LINES, f"no longer documented: {line}"
    result = run_documented_snakemake(line, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{line}\n{output[-3000:]}"
    assert not (tmp_path / "results").exists(), "a dry run must not create outputs"


def _options(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text))


RANDSMOOTH_LINES = sorted({i for d in ALL for i in instances(d, "RUN") if not is_snakemake(i)})


def randsmooth_in_process(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``python -m randsmooth ARGS`` in this process (torch is imported once): status, stdout, stderr."""
    from randsmooth.__main__ import main

    try:
        status = main(args)
    except SystemExit as exit_:  # --help
        status = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("line", [x for x in RANDSMOOTH_LINES if classify(x) != "walkthrough"])
def test_documented_randsmooth_command_runs(line: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """describe and cost for real (in this process), gpu-lease for real (a subprocess: it execs its
    command); a bare command name runs --help; a synopsis's options must all be the command's."""
    kind = classify(line)
    words = shlex.split(line)[3:]
    if kind == "gpu-lease":
        marker = tmp_path / "ran"
        args = words[: words.index("--")] if "--" in words else words
        result = run_randsmooth(*args, "--lock-dir", str(tmp_path), "--", "touch", str(marker))
        assert result.returncode == 0 and marker.exists(), result.stderr[-2000:]
        return
    if kind == "describe":
        status, out, err = randsmooth_in_process(words, capsys)
        assert status == 0 and "\nrun\t" in out, err[-2000:]
        return
    if kind == "cost":
        status, out, err = randsmooth_in_process(words, capsys)
        assert status == 0 and "\ntotal (each job once)" in out, err[-2000:]
        return
    name = [w for w in words if not w.startswith("-")][:1]
    status, out, err = randsmooth_in_process([*name, "--help"], capsys)
    assert status == 0, err[-2000:]
    if kind == "synopsis":
        missing = _options(line) - _options(out)
        assert not missing, f"{line}: not options of the command: {sorted(missing)}"
    elif name:
        assert f"python -m randsmooth {name[0]}" in out


def readme_walkthrough() -> tuple[str, list[str]]:
    """The README's training recipe (the YAML block after the train command) and its train (options
    in brackets dropped), certify, merge and metrics command lines, with WALKTHROUGH_CHANGES applied."""
    text = (REPO / "README.md").read_text()
    recipe = re.search(r"python -m randsmooth train --config recipe.yaml.*?```\n\n```yaml\n(.*?)```", text, re.DOTALL)
    assert recipe, "README: the train command is followed by its recipe"
    body = recipe.group(1)
    train = next(i for i in RANDSMOOTH_LINES if i.startswith("python -m randsmooth train --config"))
    order = {"certify": 0, "merge": 1, "metrics": 2}
    lines = [i for i in RANDSMOOTH_LINES if classify(i) == "walkthrough" and i.split()[3] in order]
    lines = [re.sub(r"\s*\[[^]]*\]", "", train), *sorted(lines, key=lambda line: order[line.split()[3]])]
    for old, new in WALKTHROUGH_CHANGES.items():
        assert old in body or any(old in line for line in lines), f"README no longer says {old!r}"
        body = body.replace(old, new)
        lines = [line.replace(old, new) for line in lines]
    return body, lines


@pytest.mark.slow
def test_readme_walkthrough_runs(tmp_path: Path) -> None:
    """train (the README's recipe) -> certify both shards -> merge -> metrics, in a fresh folder
    where the README's paths (results/models/my_model, results/model/final.pt) are made to meet."""
    recipe, (train, *rest) = readme_walkthrough()
    (tmp_path / "recipe.yaml").write_text(recipe)
    yaml.safe_load(recipe)
    result = run_randsmooth(*shlex.split(train)[3:], "--device", "cpu", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    model = shlex.split(train)[shlex.split(train).index("--out") + 1]
    (tmp_path / "results" / "model").symlink_to(tmp_path / model, target_is_directory=True)
    certify = rest[0]
    shards = [certify, certify.replace("--shard 0", "--shard 1").replace("shard_0.parquet", "shard_1.parquet")]
    for line in [*shards, *rest[1:]]:
        result = run_randsmooth(*shlex.split(line)[3:], cwd=tmp_path)
        assert result.returncode == 0, f"{line}\n{result.stderr[-3000:]}"
    assert "certified" in (tmp_path / "metrics.csv").read_text().lower()
