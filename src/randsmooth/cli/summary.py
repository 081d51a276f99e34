"""``python -m randsmooth summary --spec TABLES.json [TABLES.json ...] --out-csv F.csv --out-md F.md``.

Combines the metrics tables listed in one or more papers' ``tables.json`` (written by the
workflow) into a long CSV and a Markdown report: :mod:`randsmooth.pipeline.summary`.
"""

from __future__ import annotations

import logging

from ..pipeline.summary import write_summary
from .common import Parser, command, read_json_file

log = logging.getLogger(__name__)


@command
def main(argv: list[str]) -> int:
    parser = Parser(prog="python -m randsmooth summary", description="Combine metrics tables into a summary.")
    parser.add_argument("--spec", required=True, nargs="+", help="tables.json of one or more papers")
    parser.add_argument("--out-csv", required=True, help="long CSV: one row per row group and metric")
    parser.add_argument("--out-md", required=True, help="Markdown report")
    args = parser.parse_args(argv)
    specs = [read_json_file(path, "--spec") for path in args.spec]
    combined = {key: [item for spec in specs for item in spec[key]] for key in ("entries", "tables")}
    write_summary(combined, args.out_csv, args.out_md)
    log.info("wrote %s and %s", args.out_csv, args.out_md)
    return 0
