"""Command line: ``python -m randsmooth <command> [options]``; ``python -m randsmooth --help`` lists them."""

from __future__ import annotations

import importlib
import logging
import sys

# command -> (module implementing ``main(argv: list[str]) -> int``, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("randsmooth.train", "train a base classifier from a YAML/JSON config"),
    "certify": ("randsmooth.certify_cli", "sample class counts for test examples and write Parquet"),
    "merge": ("randsmooth.results", "merge certification shards, checking coverage and consistency"),
    "metrics": ("randsmooth.metrics_cli", "compute radii and metrics from a merged table"),
    "gpu-lease": ("randsmooth.gpu_lease", "run a command on one leased GPU (multi-GPU workstations)"),
    "soft-targets": ("randsmooth.cli.soft_targets", "a smoothed teacher's class frequencies on the train set (CAT-RS)"),
}


def _usage() -> str:
    lines = ["usage: python -m randsmooth <command> [options]", "", "commands:"]
    lines += [f"  {name:<12} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    if argv[0] not in COMMANDS:
        print(f"unknown command {argv[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    module = importlib.import_module(COMMANDS[argv[0]][0])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
