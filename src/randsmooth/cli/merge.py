"""``python -m randsmooth merge --out MERGED.parquet SHARD.parquet ... [--expect-count N] [--start A --stop B]``.

Merges certification shards after checking that they are complete, disjoint, consistent and
cover the declared subset (:func:`randsmooth.shards.merge`); a failure names the offending shard.
"""

from __future__ import annotations

from pathlib import Path

from ..shards import merge
from .common import Parser, command


@command
def main(argv: list[str]) -> int:
    parser = Parser(
        prog="python -m randsmooth merge",
        description="Merge certification shards into one count table after checking that they are "
        "complete, disjoint, consistent and cover the declared subset.",
    )
    parser.add_argument("shards", nargs="+", help="shard Parquet files written by 'randsmooth certify'")
    parser.add_argument("--out", required=True, help="merged Parquet file (written atomically)")
    parser.add_argument("--expect-count", type=int, default=None, help="required total number of examples")
    parser.add_argument("--start", type=int, default=None, help="expected subset start (with --stop)")
    parser.add_argument("--stop", type=int, default=None, help="expected subset stop, exclusive")
    parser.add_argument("--skip", type=int, default=1, help="expected subset stride (default 1)")
    args = parser.parse_args(argv)
    if (args.start is None) != (args.stop is None):
        raise ValueError("--start and --stop must be given together")
    if args.skip < 1:
        raise ValueError(f"--skip must be >= 1, got {args.skip}")
    if args.expect_count is not None and args.expect_count < 0:
        raise ValueError(f"--expect-count must be >= 0, got {args.expect_count}")
    if Path(args.out).resolve() in {Path(s).resolve() for s in args.shards}:
        raise ValueError(f"--out {args.out} is also an input shard")
    expect = None if args.start is None else range(args.start, args.stop, args.skip)
    merge(args.shards, args.out, expect_indices=expect, expect_count=args.expect_count)
    return 0
