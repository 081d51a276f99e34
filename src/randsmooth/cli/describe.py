"""``python -m randsmooth describe --config CONFIG.yaml``: config names -> result folders.

Prints a tab-separated table (kind, name, key, path) of every data set, model, certification run
and metrics variant of a workflow config, so nobody needs the content hash to find a result.
Works from any folder: the schema is found next to the config (``--schema`` to override).
"""

from __future__ import annotations

from ..pipeline import commands, config
from ..pipeline.paths import Paths
from ..pipeline.plan import Plan
from .common import Parser, command


@command
def main(argv: list[str]) -> int:
    parser = Parser(prog="python -m randsmooth describe", description="List config names and their result folders.")
    parser.add_argument("--config", required=True, help="workflow config (YAML)")
    parser.add_argument("--schema", default=None, help="config/schema.yaml (default: found next to --config)")
    args = parser.parse_args(argv)
    plan = Plan(config.load(args.config, args.schema or config.schema_path(args.config)))
    print("kind\tname\tkey\tpath")
    for row in commands.describe(plan, Paths(plan.results)):
        print("\t".join(row[k] for k in ("kind", "name", "key", "path")))
    return 0
