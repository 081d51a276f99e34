"""``python -m randsmooth snakemake [SNAKEMAKE ARGS]``: Snakemake, after checking its config files.

Snakemake reads every ``--configfile`` itself, in its command-line parser, before the Snakefile
(and so before this project's one-line config errors) runs: an empty, list or scalar file is a
``WorkflowError`` without the file's name, a non-UTF-8 byte or a 5,000-deep nesting a traceback,
and a 50 MB file takes minutes to load. No profile or Snakefile code runs before that loader.
This command parses the arguments with Snakemake's own parser (profiles included), reads each
config file with :func:`randsmooth.pipeline.config.load_yaml` (size, encoding, depth, alias and
shape limits; one line naming the file and key, exit status 2) and then replaces itself with
Snakemake (this interpreter's ``snakemake`` script, else ``python -m snakemake``) and the same
arguments. Arguments Snakemake cannot parse are left to Snakemake to report.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

from ..pipeline import config
from .common import command


def configfiles(argv: list[str]) -> list[Path]:
    """The ``--configfile`` files Snakemake would read for ``argv`` (profiles' defaults included);
    [] when Snakemake cannot parse ``argv`` (it then reports that itself)."""
    from snakemake.cli import parse_args

    try:  # the parser announces the profiles it reads; Snakemake says so again when it runs
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            _, args = parse_args(argv)
    except (Exception, SystemExit):
        return []
    return [Path(f) for f in args.configfile or []]


def check_configfiles(argv: list[str]) -> None:
    """One-line ``ValueError`` / ``FileNotFoundError`` naming the first malformed config file."""
    for path in configfiles(argv):
        config.top_level_mapping(config.load_yaml(path), path)


@command
def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__.strip())
        return 0
    check_configfiles(argv)
    script = Path(sys.executable).with_name("snakemake")
    cmd = [str(script)] if os.access(script, os.X_OK) else [sys.executable, "-m", "snakemake"]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(cmd[0], [*cmd, *argv])
    return 0  # not reached: execv replaces the process
