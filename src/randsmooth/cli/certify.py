"""``python -m randsmooth certify``: sample class counts for one shard of a data split into Parquet.

Example (Cohen et al.'s CIFAR-10 setting, shard 0 of 4 of every 20th test image)::

    python -m randsmooth certify --checkpoint models/cifar10/noise_0.25.pth.tar --dataset cifar10 \\
        --data-root data --split test --noise gaussian --sigma 0.25 --n0 100 --n 100000 --batch 400 \\
        --skip 20 --shard 0 --num-shards 4 --seed 0 --device auto --out results/shard_0.parquet

``--run RUN.json`` reads the sampling settings (:class:`randsmooth.counts.RunSpec`, defaults
included) from a file, as the workflow writes it (``results/certify/<run>/run.json``, checked
against its folder key); options given on the command line win. The run itself is
:func:`randsmooth.certification.certify_shard`; the output schema is described in
:mod:`randsmooth.counts`, the shard convention and resumption in :mod:`randsmooth.shards`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from ..counts.settings import RNG_SCHEMES
from ..counts.spec import RUN_DEFAULTS as D
from ..counts.spec import RunSpec
from .common import Parser, command, key_value, key_values, read_json_file

logger = logging.getLogger(__name__)

LIST_OPTIONS = {"dataset_options": "--dataset-option", "noise_params": "--noise-param"}
ENGINE_FLAGS = ("autocast", "channels_last", "fast", "compile")  # store_true: only True comes from the options


def build_parser() -> Parser:
    p = Parser(
        prog="python -m randsmooth certify",
        description="Draw n0 selection and n estimation noise samples per test example, run the base "
        "model and write per-example class counts to Parquet (resumable).",
    )
    p.add_argument("--checkpoint", required=True, help="model checkpoint (ours, Cohen's or MACER's layout)")
    p.add_argument("--run", default=None, help="JSON file with the sampling settings (options below win)")
    p.add_argument("--arch", help="architecture, needed only for MACER-layout checkpoints")
    p.add_argument("--dataset", help="data set name (cifar10, imagenet, imagenette, ham10000, digits)")
    p.add_argument("--data-root", default=None, help="data set root directory")
    p.add_argument(
        "--dataset-option",
        dest="dataset_options",
        type=key_value,
        action="append",
        metavar="KEY=VALUE",
        help="data set option (repeatable; value parsed as JSON if possible)",
    )
    p.add_argument("--download", action="store_true", help="download the data set if missing")
    p.add_argument("--split", help=f"data split (default: {D['split']})")
    p.add_argument("--noise", help=f"noise family (default: {D['noise']})")
    p.add_argument(
        "--noise-param", dest="noise_params", type=key_value, action="append", metavar="KEY=VALUE", help="e.g. k=1"
    )
    p.add_argument("--sigma", type=float, help="noise per-coordinate RMS (pixel units, or normalised units)")
    p.add_argument(
        "--noise-space",
        choices=("pixel", "normalized"),
        help="add the noise before the model's Normalize (pixel, the default) or after it (normalized: "
        "sigma and radii in normalised units)",
    )
    p.add_argument("--n0", type=int, help=f"selection samples per example (default {D['n0']})")
    p.add_argument("--n", type=int, help=f"estimation samples per example (default {D['n']})")
    p.add_argument("--batch", type=int, help=f"model batch size (default {D['batch']}; does not change the counts)")
    p.add_argument(
        "--noise-block",
        type=int,
        help=f"samples per seeded noise block (default {D['noise_block']}; changes the streams)",
    )
    p.add_argument("--start", type=int, help=f"first index of the subset (default {D['start']})")
    p.add_argument("--stop", type=int, help="subset end, exclusive (default: the split size)")
    p.add_argument("--skip", type=int, help=f"subset stride (Cohen: 20 CIFAR-10, 100 ImageNet; default {D['skip']})")
    p.add_argument("--shard", type=int, default=0, help="this shard, 0-based (takes subset[shard::num_shards])")
    p.add_argument("--num-shards", type=int, help=f"number of shards (default {D['num_shards']})")
    p.add_argument("--seed", type=int, help=f"global noise seed (default {D['seed']})")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--autocast", action="store_true", help="CUDA float16 autocast (certifies another network)")
    p.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    p.add_argument("--fast", action="store_true", help="CUDA-graph replay of full batches (CUDA; recorded)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (recorded)")
    p.add_argument("--rng", choices=RNG_SCHEMES, help=f"noise RNG scheme (default {D['rng']})")
    p.add_argument(
        "--sequential",
        type=_json_object,
        metavar="JSON",
        help='stop each example once decided, e.g. \'{"mode": "grid", "max_n": 100000, "radii": [0, 0.5], '
        '"norm": "l2", "alpha": 0.001}\' (max_n = --n; see README "Sequential certification")',
    )
    p.add_argument("--num-threads", type=int, default=None, help="torch CPU threads (set it to the job's cores)")
    p.add_argument("--out", required=True, help="output Parquet file (progress kept in OUT.progress.jsonl)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    return p


def _json_object(text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON ({exc})") from None


def resolve(args: argparse.Namespace) -> RunSpec:
    """The sampling settings: the defaults, then the --run file, then the options given."""
    from ..pipeline.identity import check_run_file

    spec = RunSpec()
    if args.run is not None:
        spec = RunSpec.from_file(read_json_file(args.run, "--run"), f"--run {args.run}")
        check_run_file(args.run, spec)
    given = {}
    for name in (*RunSpec.names("data", "noise", "engine"), "arch"):
        value = getattr(args, name)
        if value is None or (name in ENGINE_FLAGS and value is False):
            continue
        given[name] = key_values(value, LIST_OPTIONS[name]) if name in LIST_OPTIONS else value
    spec = spec.replace(**given)
    for name in ("dataset", "sigma"):
        if getattr(spec, name) is None:
            raise ValueError(f"--{name} is required (or give it in --run)")
    return spec


def certify(args: argparse.Namespace) -> Path:
    """Run (or resume) one shard; return the output path."""
    spec = resolve(args)
    if not Path(args.checkpoint).is_file():
        raise FileNotFoundError(f"--checkpoint {args.checkpoint}: no such file")
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"--out {out} already exists; delete it or pass --overwrite")
    if args.num_threads is not None:
        if args.num_threads < 1:
            raise ValueError(f"--num-threads must be >= 1, got {args.num_threads}")
        import torch

        torch.set_num_threads(args.num_threads)
    from ..certification import certify_shard
    from ..sequential import rule_from_settings

    return certify_shard(
        spec,
        args.checkpoint,
        out,
        rule_for=rule_from_settings,
        shard=args.shard,
        data_root=args.data_root,
        device=args.device,
        download=args.download,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )


def _name_the_option(exc: ValueError) -> ValueError:
    """``"n must be ..."`` from a library check -> ``"--n must be ..."`` (the option the user typed)."""
    first, _, rest = str(exc).partition(" ")
    if first in RunSpec.names() or first in ("shard", "num_threads", "checkpoint"):
        return ValueError(f"--{first.replace('_', '-')} {rest}")
    return exc


@command
def main(argv: list[str]) -> int:
    try:
        certify(build_parser().parse_args(argv))
    except ValueError as exc:
        raise _name_the_option(exc) from None
    return 0
