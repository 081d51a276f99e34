"""``python -m randsmooth check-counts COUNTS.parquet ...``: every count table is there and readable.

The workflow's ``check`` target runs it on the merged counts of every run the config uses (after
re-making any that is missing from its shards): a deleted or corrupt ``counts.parquet`` of a
finished run otherwise goes unnoticed while the metrics and tables made from it exist. Each table
is read in full (:func:`randsmooth.counts.read_table`: metadata, schema, cumulative prefix counts);
the first bad one is one line naming the file, exit status 2.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..counts import read_table
from .common import Parser, command

log = logging.getLogger(__name__)


@command
def main(argv: list[str]) -> int:
    parser = Parser(prog="python -m randsmooth check-counts", description=__doc__.splitlines()[0])
    parser.add_argument("tables", nargs="*", help="merged count tables (counts.parquet)")
    args = parser.parse_args(argv)
    examples = 0
    for path in args.tables:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such file (the run's counts are missing; rerun its merge)")
        try:
            table = read_table(path)
        except ValueError as exc:
            raise ValueError(f"{exc}; delete {path} and run the workflow's check target to merge it again") from None
        if len(table) == 0:
            raise ValueError(f"{path}: a count table without examples")
        examples += len(table)
    log.info("%d count tables, %d examples: all readable", len(args.tables), examples)
    return 0
