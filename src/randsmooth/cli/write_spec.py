"""``python -m randsmooth write-spec OUT TEXT``: write a workflow spec file atomically.

The workflow's rules pass each spec (``recipe.json``, ``run.json``, ``variant.json``,
``tables.json``, ``index.json``) as one argument; it is written with a final newline to a temporary
file next to OUT and renamed onto it (:mod:`randsmooth.atomic`), so a full disk or a kill never
leaves a truncated spec that a later job would read.
"""

from __future__ import annotations

from ..atomic import atomic_write_text
from .common import Parser, command


@command
def main(argv: list[str]) -> int:
    parser = Parser(prog="python -m randsmooth write-spec", description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the spec file to write (replaced atomically)")
    parser.add_argument("text", help="its content (a newline is appended)")
    args = parser.parse_args(argv)
    atomic_write_text(args.out, args.text + "\n")
    return 0
