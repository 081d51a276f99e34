"""``python -m randsmooth train --config CONFIG --out DIR [--no-resume] [--device D] [--soft-targets F] [--init P]
[--time-budget MINUTES]``.

Trains a base classifier as described by a training config (:mod:`randsmooth.train_config`);
output files and resumption: :mod:`randsmooth.train`. A workflow model's ``models/<key>/recipe.json``
is refused when it no longer gives its folder's key (:mod:`randsmooth.pipeline.identity`). With
``--time-budget``, a training that would not finish in time stops after its last epoch that fits,
with one line on stderr and exit status 75 (:data:`randsmooth.train.EXIT_PAUSED`); the same command
resumes it.
"""

from __future__ import annotations

import logging
import sys

from .. import train_config
from ..pipeline.identity import check_recipe_file
from ..train import EXIT_PAUSED, TrainingPaused, train
from .common import Parser, command


@command
def main(argv: list[str]) -> int:
    parser = Parser(prog="python -m randsmooth train", description="Train a base classifier of a smoothed model.")
    parser.add_argument("--config", required=True, help="YAML or JSON training config")
    parser.add_argument("--out", required=True, help="output directory (checkpoint.pt, final.pt, log.csv, ...)")
    parser.add_argument("--no-resume", action="store_true", help="start afresh even if OUT/checkpoint.pt exists")
    parser.add_argument("--device", default=None, help="override the config's device (auto, cpu, cuda, cuda:N)")
    parser.add_argument(
        "--soft-targets", default=None, help="soft-target file (catrs; `python -m randsmooth soft-targets`)"
    )
    parser.add_argument(
        "--init",
        default=None,
        help="pre-trained checkpoint to start from (its network; a classifier of another size is not copied)",
    )
    parser.add_argument(
        "--time-budget",
        type=float,
        default=None,
        metavar="MINUTES",
        help="stop before an epoch that would not end within MINUTES (exit status 75; run again to resume)",
    )
    args = parser.parse_args(argv)
    if args.time_budget is not None and not args.time_budget > 0:
        parser.error(f"--time-budget must be > 0 minutes, got {args.time_budget:g}")
    config = train_config.load_config(args.config)
    check_recipe_file(args.config, config, args.init)  # a workflow model's recipe.json: still its folder's?
    if args.device is not None:
        config["device"] = args.device
    try:
        train_config.resolve_config(config)
    except ValueError as exc:
        raise ValueError(f"--config {args.config}: {exc}") from None
    budget = None if args.time_budget is None else args.time_budget * 60.0
    try:
        train(config, args.out, not args.no_resume, args.soft_targets, args.init, time_budget_s=budget)
    except TrainingPaused as paused:
        logging.getLogger(__name__).info("%s", paused)
        print(f"paused: {paused}", file=sys.stderr)
        return EXIT_PAUSED
    return 0
