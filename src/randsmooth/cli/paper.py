"""``python -m randsmooth paper --spec TABLES.json --artifact NAME --out-dir DIR [--published FILE]``.

Builds one table or figure of a paper (``NAME`` = ``cohen2019_table1`` or ``table1``; the list is
in :mod:`randsmooth.papers.catalog`) for every table of the paper's ``tables.json`` that lists it,
into ``DIR/<table>/``; ``--published`` is ``config/published/<paper>.yaml`` (printed values shown
beside ours where the setting matches).
"""

from __future__ import annotations

import logging

from ..papers.build import build_artifact
from .common import Parser, command

log = logging.getLogger(__name__)


@command
def main(argv: list[str]) -> int:
    parser = Parser(prog="python -m randsmooth paper", description="Build one table or figure of a paper.")
    parser.add_argument("--spec", required=True, help="the paper's tables.json (written by the workflow)")
    parser.add_argument("--artifact", required=True, help="artifact name, e.g. cohen2019_table1")
    parser.add_argument("--published", default=None, help="config/published/<paper>.yaml")
    parser.add_argument("--out-dir", required=True, help="the paper's results folder (results/papers/<paper>)")
    args = parser.parse_args(argv)
    tables = build_artifact(args.spec, args.artifact, args.published, args.out_dir)
    log.info("built %s for table(s) %s in %s", args.artifact, ", ".join(tables), args.out_dir)
    return 0
