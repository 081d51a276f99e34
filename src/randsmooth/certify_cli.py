"""``python -m randsmooth certify``: sample class counts for a shard of a data split into Parquet.

Example (Cohen et al.'s CIFAR-10 setting, shard 0 of 4 of every 20th test image)::

    python -m randsmooth certify --checkpoint models/cifar10/noise_0.25.pth.tar --dataset cifar10 \\
        --data-root data --split test --noise gaussian --sigma 0.25 --n0 100 --n 100000 --batch 400 \\
        --skip 20 --shard 0 --num-shards 4 --seed 0 --device auto --out results/shard_0.parquet

The output schema, the shard convention (shard k of K takes ``range(start, stop, skip)[k::K]``) and
resumption after an interruption are described in :mod:`randsmooth.results`; the sampling itself
in :mod:`randsmooth.engine`. No radius is computed here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import torch

from . import __version__
from .engine import DEFAULT_NOISE_BLOCK, CountSampler, SamplerConfig, sample_shard
from .results import DEFAULT_RNG, RNG_SCHEMES, RunSettings, ShardWriter

logger = logging.getLogger(__name__)


def model_id(path: str | os.PathLike) -> str:
    """``"<file name>:<first 16 hex digits of the sha256 of its bytes>"``."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return f"{Path(path).name}:{digest.hexdigest()[:16]}"


def parse_key_values(items: Sequence[str] | None, option: str) -> dict[str, Any]:
    """``["k=1", "name=foo"]`` -> ``{"k": 1, "name": "foo"}`` (values parsed as JSON when possible)."""
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"{option} expects key=value, got {item!r}")
        if key in out:
            raise ValueError(f"{option} {key} given twice")
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m randsmooth certify",
        description="Draw n0 selection and n estimation noise samples per test example, run the base "
        "model and write per-example class counts to Parquet (resumable; see randsmooth.results).",
    )
    p.add_argument("--checkpoint", required=True, help="model checkpoint (ours, Cohen's or MACER's layout)")
    p.add_argument("--arch", default=None, help="architecture, needed only for MACER-layout checkpoints")
    p.add_argument("--dataset", required=True, help="data set name (e.g. cifar10, imagenet, digits)")
    p.add_argument("--data-root", default=None, help="data set root directory")
    p.add_argument(
        "--dataset-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="data set option (repeatable; value parsed as JSON if possible)",
    )
    p.add_argument("--download", action="store_true", help="download the data set if missing")
    p.add_argument("--split", default="test", help="data split (default: test)")
    p.add_argument("--noise", default="gaussian", help="noise family (default: gaussian)")
    p.add_argument(
        "--noise-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="noise family parameter, e.g. k=1 (repeatable)",
    )
    p.add_argument("--sigma", type=float, required=True, help="noise per-coordinate RMS in [0,1] pixel units")
    p.add_argument("--n0", type=int, default=100, help="selection samples per example (default 100)")
    p.add_argument("--n", type=int, default=100000, help="estimation samples per example (default 100000)")
    p.add_argument("--batch", type=int, default=400, help="model batch size (does not change counts)")
    p.add_argument(
        "--noise-block",
        type=int,
        default=DEFAULT_NOISE_BLOCK,
        help=f"samples per seeded noise block (default {DEFAULT_NOISE_BLOCK}; changes the streams)",
    )
    p.add_argument("--start", type=int, default=0, help="first dataset index of the subset (default 0)")
    p.add_argument("--stop", type=int, default=None, help="subset end, exclusive (default: split size)")
    p.add_argument("--skip", type=int, default=1, help="subset stride (Cohen: 20 CIFAR, 100 ImageNet)")
    p.add_argument("--shard", type=int, default=0, help="this shard, 0-based (takes subset[shard::num_shards])")
    p.add_argument("--num-shards", type=int, default=1, help="number of shards (default 1)")
    p.add_argument("--seed", type=int, default=0, help="global noise seed (default 0)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument(
        "--autocast",
        action="store_true",
        help="CUDA float16 autocast (certifies the reduced-precision model; off by default)",
    )
    p.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    p.add_argument("--fast", action="store_true", help="CUDA-graph replay of full batches (CUDA; recorded)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (recorded)")
    p.add_argument("--rng", default=DEFAULT_RNG, choices=RNG_SCHEMES, help=f"noise RNG scheme (default {DEFAULT_RNG})")
    p.add_argument(
        "--num-threads",
        type=int,
        default=None,
        help="CPU threads for torch (default: torch's choice; set it to the job's cores under SLURM)",
    )
    p.add_argument("--out", required=True, help="output Parquet file (progress kept in OUT.progress.jsonl)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    return p


def _validate(args: argparse.Namespace) -> None:
    """Range checks with one-line messages naming the option."""
    checks = [
        ("--n0", args.n0, 1),
        ("--n", args.n, 1),
        ("--batch", args.batch, 1),
        ("--noise-block", args.noise_block, 1),
        ("--start", args.start, 0),
        ("--skip", args.skip, 1),
        ("--shard", args.shard, 0),
        ("--num-shards", args.num_shards, 1),
        ("--seed", args.seed, 0),
        ("--num-threads", 1 if args.num_threads is None else args.num_threads, 1),
    ]
    for name, value, minimum in checks:
        if value < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if args.stop is not None and args.stop < args.start:
        raise ValueError(f"--stop must be >= --start ({args.start}), got {args.stop}")
    if args.shard >= args.num_shards:
        raise ValueError(f"--shard must be < --num-shards ({args.num_shards}), got {args.shard}")
    if not args.sigma > 0 or args.sigma == float("inf"):
        raise ValueError(f"--sigma must be a positive finite number, got {args.sigma}")
    if not Path(args.checkpoint).is_file():
        raise ValueError(f"--checkpoint {args.checkpoint} is not a file")


def certify(args: argparse.Namespace) -> Path:
    """Run (or resume) one shard as described by parsed ``args``; return the output path."""
    from .data import dataset_spec, load_dataset
    from .device import DeviceUnavailableError, select_device
    from .models import load_model
    from .sampling import get_noise

    _validate(args)
    dataset_options = parse_key_values(args.dataset_option, "--dataset-option")
    noise_params = parse_key_values(args.noise_param, "--noise-param")
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"--out {out} already exists; delete it or pass --overwrite")
    if args.num_threads is not None:
        torch.set_num_threads(args.num_threads)
    try:
        device = select_device(args.device)
    except DeviceUnavailableError as exc:
        raise ValueError(f"--device: {exc}") from None
    spec = dataset_spec(args.dataset, **dataset_options)
    noise = get_noise(args.noise, args.sigma, spec.dim, **noise_params)
    dataset = load_dataset(
        args.dataset, args.split, args.data_root, augment=False, download=args.download, **dataset_options
    )
    stop = len(dataset) if args.stop is None else args.stop
    if stop > len(dataset):
        raise ValueError(f"--stop {stop} exceeds the size of {args.dataset}/{args.split} ({len(dataset)})")
    model, info = load_model(
        args.checkpoint, device, arch=args.arch, dataset=args.dataset, dataset_options=dataset_options
    )
    if int(info["num_classes"]) != spec.num_classes:
        raise ValueError(
            f"--checkpoint {args.checkpoint} has {info['num_classes']} classes but {args.dataset} "
            f"has {spec.num_classes}"
        )
    if info.get("dataset") not in (None, spec.name):
        logger.warning("checkpoint was trained on %r, certifying on %r", info.get("dataset"), spec.name)
    config = SamplerConfig(
        n0=args.n0,
        n=args.n,
        batch=args.batch,
        seed=args.seed,
        noise_block=args.noise_block,
        autocast=args.autocast,
        channels_last=args.channels_last,
        rng=args.rng,
        fast=args.fast,
        compile=args.compile,
    )
    settings = RunSettings(
        checkpoint=str(args.checkpoint),
        model_id=model_id(args.checkpoint),
        dataset=spec.name,
        dataset_options=dataset_options,
        data_root=args.data_root,
        split=args.split,
        noise=noise.name,
        noise_params=noise.params(),
        sigma=noise.sigma,
        dim=spec.dim,
        num_classes=spec.num_classes,
        n0=args.n0,
        n=args.n,
        start=args.start,
        stop=stop,
        skip=args.skip,
        shard=args.shard,
        num_shards=args.num_shards,
        seed=args.seed,
        noise_block=args.noise_block,
        batch=args.batch,
        device=str(device),
        autocast=args.autocast,
        channels_last=args.channels_last,
        rng=args.rng,
        fast=args.fast,
        compile=args.compile,
        prefix_budgets=list(config.budgets()),
        torch_version=torch.__version__,
        version=__version__,
    )
    sampler = CountSampler(model, noise, spec.num_classes, device, config)
    with ShardWriter(out, settings, overwrite=args.overwrite) as writer:
        logger.info(
            "certify %s/%s shard %d/%d: %d examples (%d already done), %s sigma=%g, n0=%d, n=%d, on %s",
            spec.name,
            args.split,
            args.shard,
            args.num_shards,
            len(settings.expected_indices()),
            len(writer.done),
            noise.name,
            noise.sigma,
            args.n0,
            args.n,
            device,
        )
        path = sample_shard(sampler, dataset, writer, progress=not args.no_progress)
    logger.info("wrote %s", path)
    return path


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m randsmooth certify``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        certify(args)
    except (ValueError, FileExistsError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
