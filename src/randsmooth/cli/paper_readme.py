"""``python -m randsmooth paper-readme --spec TABLES.json --claims CLAIMS.yaml --out-readme README.md
--out-claims claims.csv [--tables CSV ...] [--published-logs]``.

Checks the paper's claims (``config/claims/<paper>.yaml``) on the runs of ``tables.json`` and
writes the paper folder's README (files, runs, deviations from the paper, published values found
in the artifact CSVs given with ``--tables``, claims) and the claims as CSV.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..atomic import atomic_write_text
from ..papers.claims import evaluate, load_claims
from ..papers.data import load_spec
from ..papers.readme import write_readme
from .common import Parser, command

log = logging.getLogger(__name__)


@command
def main(argv: list[str]) -> int:
    parser = Parser(prog="python -m randsmooth paper-readme", description="Check a paper's claims; write its README.")
    parser.add_argument("--spec", required=True, help="the paper's tables.json (written by the workflow)")
    parser.add_argument("--claims", required=True, help="config/claims/<paper>.yaml")
    parser.add_argument("--tables", nargs="*", default=[], help="the paper's artifact CSVs (for the published values)")
    parser.add_argument("--published-logs", action="store_true", help="the paper's published-log tables exist")
    parser.add_argument("--out-readme", required=True)
    parser.add_argument("--out-claims", required=True)
    args = parser.parse_args(argv)
    spec = load_spec(args.spec)
    if not Path(args.claims).is_file():
        raise FileNotFoundError(f"--claims {args.claims}: no such file")
    claims = evaluate(load_claims(args.claims, spec.paper), spec)
    atomic_write_text(args.out_claims, claims.to_csv(index=False))
    write_readme(spec, claims, [Path(p) for p in args.tables], args.published_logs, args.out_readme)
    for row in claims.itertuples(index=False):
        log.info("claim %s (%s): %s -- %s", row.id, row.table, row.status, row.evidence)
    return 0
