"""``python -m randsmooth prepare-data --name NAME --root DIR [--options JSON] [--seed S] [--download] --out F.json``.

Checks (and, with ``--download``, downloads) both splits of a data set and writes a record of
what it found (split sizes, input shape, classes): the workflow runs it once per data set before
any job reads the data, so a missing or corrupt data set stops the run with one line.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from .. import __version__
from ..atomic import atomic_write_text
from ..data import dataset_spec, load_dataset
from .common import Parser, command

log = logging.getLogger(__name__)


def prepare_dataset(name: str, root: str, options: dict[str, Any], seed: int | None, download: bool) -> dict[str, Any]:
    """Check (and download, if allowed) both splits of a data set; return a description."""
    spec = dataset_spec(name, **options, **({} if seed is None else {"seed": seed}))
    sizes = {}
    for split in ("train", "test"):
        sizes[split] = len(load_dataset(name, split, root, augment=False, download=download, seed=seed, **options))
    return {
        "dataset": name,
        "options": dict(options),
        "seed": seed,
        "root": root,
        "sizes": sizes,
        "num_classes": spec.num_classes,
        "input_shape": list(spec.input_shape),
        "dim": spec.dim,
        "randsmooth_version": __version__,
    }


@command
def main(argv: list[str]) -> int:
    parser = Parser(prog="python -m randsmooth prepare-data", description="Check or download a data set.")
    parser.add_argument("--name", required=True, help="data set name")
    parser.add_argument("--root", required=True, help="data folder")
    parser.add_argument("--options", default="{}", help="loader options as a JSON object")
    parser.add_argument("--seed", type=int, default=None, help="split / augmentation seed (default: the data set's)")
    parser.add_argument("--download", action="store_true", help="download the data set if missing")
    parser.add_argument("--out", required=True, help="JSON record to write")
    args = parser.parse_args(argv)
    try:
        options = json.loads(args.options)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--options must be a JSON object ({exc})") from None
    if not isinstance(options, dict):
        raise ValueError(f"--options must be a JSON object, got {args.options!r}")
    record = prepare_dataset(args.name, args.root, options, args.seed, args.download)
    atomic_write_text(args.out, json.dumps(record, indent=2, sort_keys=True) + "\n")
    log.info("%s: train %d / test %d examples", args.name, record["sizes"]["train"], record["sizes"]["test"])
    return 0
