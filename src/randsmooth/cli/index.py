"""``python -m randsmooth index --spec index.json --out-md index.md --out-csv index.csv``.

Every config name of a model or run with its (content-addressed) folder and the settings that
differ within its family (:mod:`randsmooth.papers.index`); the workflow writes ``index.json``.
"""

from __future__ import annotations

from ..papers.index import write_index
from .common import Parser, command, read_json_file


@command
def main(argv: list[str]) -> int:
    parser = Parser(prog="python -m randsmooth index", description="Config names -> result folders, as tables.")
    parser.add_argument("--spec", required=True, help="index.json (written by the workflow)")
    parser.add_argument("--out-md", required=True)
    parser.add_argument("--out-csv", required=True)
    args = parser.parse_args(argv)
    write_index(read_json_file(args.spec, "--spec"), args.out_md, args.out_csv)
    return 0
