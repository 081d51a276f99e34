"""``python -m randsmooth published-logs --spec TABLES.json --published FILE --out-stem STEM``.

Rebuilds a paper's tables from the authors' released per-example logs in the local clone named
by the config (``papers/<paper>/published_logs``): per cell the printed value, the value
recomputed from the log and the alpha its radii imply (:mod:`randsmooth.papers.published_logs`).
Writes ``STEM.csv``, ``STEM.md`` and ``STEM.tex``. Needs no GPU.
"""

from __future__ import annotations

import logging

from ..papers.data import load_spec
from ..papers.published import load_published
from ..papers.published_logs import build_published_logs
from .common import Parser, command

log = logging.getLogger(__name__)


@command
def main(argv: list[str]) -> int:
    parser = Parser(prog="python -m randsmooth published-logs", description="Tables from the released logs.")
    parser.add_argument("--spec", required=True, help="the paper's tables.json (holds the published_logs setting)")
    parser.add_argument("--published", required=True, help="config/published/<paper>.yaml (lists the logs)")
    parser.add_argument("--out-stem", required=True, help="output path without suffix")
    args = parser.parse_args(argv)
    spec = load_spec(args.spec)
    if spec.published_logs is None:
        raise ValueError(f"--spec {args.spec}: the config sets no papers/{spec.paper}/published_logs")
    published = load_published(args.published, spec.paper)
    table = build_published_logs(spec.paper, spec.published_logs, published, args.out_stem)
    log.info("wrote %s.{csv,md,tex} (%d logs)", args.out_stem, len(table.sections))
    return 0
