"""``python -m randsmooth certify``: sample class counts for one shard of a data split into Parquet.

Example (Cohen et al.'s CIFAR-10 setting, shard 0 of 4 of every 20th test image)::

    python -m randsmooth certify --checkpoint models/cifar10/noise_0.25.pth.tar --dataset cifar10 \\
        --data-root data --split test --noise gaussian --sigma 0.25 --n0 100 --n 100000 --batch 400 \\
        --skip 20 --shard 0 --num-shards 4 --seed 0 --device auto --out results/shard_0.parquet

``--run RUN.json`` reads the sampling settings (the keys of :data:`RUN_KEYS`) from a file, as the
workflow writes it (``results/certify/<run>/run.json``); options given on the command line win.
The output schema is described in :mod:`randsmooth.counts`, the shard convention and resumption
in :mod:`randsmooth.shards`, the sampling in :mod:`randsmooth.engine`. No radius is computed here.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from .common import Parser, command, key_value, key_values, read_json_file

logger = logging.getLogger(__name__)

# option -> default; these may also come from --run (keys = option names with "_")
RUN_KEYS: dict[str, Any] = {
    "dataset": None,
    "dataset_options": {},
    "split": "test",
    "noise": "gaussian",
    "noise_params": {},
    "sigma": None,
    "n0": 100,
    "n": 100_000,
    "noise_block": 128,
    "start": 0,
    "stop": None,
    "skip": 1,
    "num_shards": 1,
    "seed": 0,
    "rng": "philox-v1",
    "arch": None,
    "noise_space": "pixel",
}
LIST_OPTIONS = {"dataset_options": "--dataset-option", "noise_params": "--noise-param"}
RUN_LABELS = ("model",)  # keys of a run file that only name things (the workflow's model key)


def model_id(path: str | os.PathLike) -> str:
    """``"<file name>:<first 16 hex digits of the sha256 of its bytes>"``."""
    from ..data import file_checksum

    return f"{Path(path).name}:{file_checksum(path, 'sha256')[:16]}"


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
    p.add_argument("--split", help="data split (default: test)")
    p.add_argument("--noise", help="noise family (default: gaussian)")
    p.add_argument(
        "--noise-param", dest="noise_params", type=key_value, action="append", metavar="KEY=VALUE", help="e.g. k=1"
    )
    p.add_argument("--sigma", type=float, help="noise per-coordinate RMS (pixel units, or normalised units)")
    p.add_argument(
        "--noise-space",
        choices=("pixel", "normalized"),
        help="add the noise before the model's Normalize (pixel, default) or after it (normalized: "
        "sigma and radii in normalised units)",
    )
    p.add_argument("--n0", type=int, help="selection samples per example (default 100)")
    p.add_argument("--n", type=int, help="estimation samples per example (default 100000)")
    p.add_argument("--batch", type=int, default=400, help="model batch size (does not change the counts)")
    p.add_argument("--noise-block", type=int, help="samples per seeded noise block (default 128; changes the streams)")
    p.add_argument("--start", type=int, help="first index of the subset (default 0)")
    p.add_argument("--stop", type=int, help="subset end, exclusive (default: the split size)")
    p.add_argument("--skip", type=int, help="subset stride (Cohen: 20 CIFAR-10, 100 ImageNet; default 1)")
    p.add_argument("--shard", type=int, default=0, help="this shard, 0-based (takes subset[shard::num_shards])")
    p.add_argument("--num-shards", type=int, help="number of shards (default 1)")
    p.add_argument("--seed", type=int, help="global noise seed (default 0)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--autocast", action="store_true", help="CUDA float16 autocast (certifies another network)")
    p.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    p.add_argument("--fast", action="store_true", help="CUDA-graph replay of full batches (CUDA; recorded)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (recorded)")
    p.add_argument("--rng", choices=("block-v1", "philox-v1"), help="noise RNG scheme (default philox-v1)")
    p.add_argument("--num-threads", type=int, default=None, help="torch CPU threads (set it to the job's cores)")
    p.add_argument("--out", required=True, help="output Parquet file (progress kept in OUT.progress.jsonl)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    return p


def resolve(args: argparse.Namespace) -> dict[str, Any]:
    """The sampling settings: defaults, then the --run file, then the options given."""
    values = dict(RUN_KEYS)
    if args.run is not None:
        data = read_json_file(args.run, "--run")
        if not isinstance(data, dict):
            raise ValueError(f"--run {args.run}: expected a JSON object")
        unknown = sorted(set(data) - set(RUN_KEYS) - set(RUN_LABELS))
        if unknown:
            raise ValueError(f"--run {args.run}: unknown key {unknown[0]!r}; expected some of {sorted(RUN_KEYS)}")
        values.update({k: v for k, v in data.items() if k in RUN_KEYS})
    for key in RUN_KEYS:
        given = getattr(args, key)
        if given is None:
            continue
        if key in LIST_OPTIONS:
            given = key_values(given, LIST_OPTIONS[key])
        values[key] = given
    for key in ("dataset", "sigma"):
        if values[key] is None:
            raise ValueError(f"--{key} is required (or give it in --run)")
    return values


def certify(args: argparse.Namespace) -> Path:
    """Run (or resume) one shard; return the output path."""
    import torch

    from .. import __version__
    from ..counts import RunSettings
    from ..data import dataset_spec, load_dataset
    from ..device import select_device
    from ..engine import CountSampler, SamplerConfig, sample_shard
    from ..models import NonFiniteLogitsError, load_model, smoothed_part, to_noise_space
    from ..sampling import get_noise
    from ..shards import ShardWriter

    run = resolve(args)
    if not Path(args.checkpoint).is_file():
        raise FileNotFoundError(f"--checkpoint {args.checkpoint}: no such file")
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"--out {out} already exists; delete it or pass --overwrite")
    if args.num_threads is not None:
        if args.num_threads < 1:
            raise ValueError(f"--num-threads must be >= 1, got {args.num_threads}")
        torch.set_num_threads(args.num_threads)
    device = select_device(args.device)
    spec = dataset_spec(run["dataset"], **run["dataset_options"])
    noise = get_noise(run["noise"], run["sigma"], spec.dim, **run["noise_params"])
    dataset = load_dataset(
        run["dataset"], run["split"], args.data_root, augment=False, download=args.download, **run["dataset_options"]
    )
    stop = len(dataset) if run["stop"] is None else run["stop"]
    if stop > len(dataset):
        raise ValueError(f"--stop {stop} exceeds the size of {run['dataset']}/{run['split']} ({len(dataset)})")
    model, info = load_model(
        args.checkpoint, device, arch=run["arch"], dataset=run["dataset"], dataset_options=run["dataset_options"]
    )
    if int(info["num_classes"]) != spec.num_classes:
        raise ValueError(
            f"--checkpoint {args.checkpoint} has {info['num_classes']} classes but {run['dataset']} "
            f"has {spec.num_classes}"
        )
    if info.get("dataset") not in (None, spec.name):
        logger.warning("checkpoint was trained on %r, certifying on %r", info.get("dataset"), spec.name)
    smoothed, inputs = smoothed_part(model, run["noise_space"]), to_noise_space(dataset, model, run["noise_space"])
    _check_model_accepts(smoothed, inputs[run["start"]][0], device, args.checkpoint)
    config = SamplerConfig(
        n0=run["n0"],
        n=run["n"],
        batch=args.batch,
        seed=run["seed"],
        noise_block=run["noise_block"],
        autocast=args.autocast,
        channels_last=args.channels_last,
        rng=run["rng"],
        fast=args.fast,
        compile=args.compile,
    )
    settings = RunSettings(
        checkpoint=str(args.checkpoint),
        model_id=model_id(args.checkpoint),
        dataset=spec.name,
        dataset_options=run["dataset_options"],
        data_root=args.data_root,
        split=run["split"],
        noise=noise.name,
        noise_params=noise.params(),
        sigma=noise.sigma,
        dim=spec.dim,
        num_classes=spec.num_classes,
        n0=run["n0"],
        n=run["n"],
        start=run["start"],
        stop=stop,
        skip=run["skip"],
        shard=args.shard,
        num_shards=run["num_shards"],
        seed=run["seed"],
        noise_block=run["noise_block"],
        batch=args.batch,
        device=str(device),
        autocast=args.autocast,
        channels_last=args.channels_last,
        rng=run["rng"],
        fast=args.fast,
        compile=args.compile,
        prefix_budgets=list(config.budgets()),
        torch_version=torch.__version__,
        version=__version__,
        noise_space=run["noise_space"],
    )
    sampler = CountSampler(smoothed, noise, spec.num_classes, device, config)
    with ShardWriter(out, settings, overwrite=args.overwrite) as writer:
        logger.info(
            "certify %s/%s shard %d/%d: %d examples (%d already done), %s sigma=%g (%s space), n0=%d, n=%d, on %s",
            spec.name,
            run["split"],
            args.shard,
            run["num_shards"],
            len(settings.expected_indices()),
            len(writer.done),
            noise.name,
            noise.sigma,
            run["noise_space"],
            run["n0"],
            run["n"],
            device,
        )
        try:
            path = sample_shard(sampler, inputs, writer, progress=not args.no_progress)
        except NonFiniteLogitsError as exc:
            raise ValueError(f"--checkpoint {args.checkpoint}: {exc}") from None
    logger.info("wrote %s", path)
    return path


def _check_model_accepts(model: Any, x: Any, device: Any, checkpoint: str) -> None:
    """One forward pass on one example: a model built for other inputs fails here, naming the file."""
    import torch

    try:
        with torch.inference_mode():
            model.eval()(x.unsqueeze(0).to(device))
    except (RuntimeError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0][:200]
        raise ValueError(
            f"--checkpoint {checkpoint}: the model does not accept this data set's inputs of shape "
            f"{tuple(x.shape)} ({reason})"
        ) from None


def _name_the_option(exc: ValueError) -> ValueError:
    """``"n must be ..."`` from a library check -> ``"--n must be ..."`` (the option the user typed)."""
    first, _, rest = str(exc).partition(" ")
    if first in RUN_KEYS or first in ("batch", "shard", "num_threads"):
        return ValueError(f"--{first.replace('_', '-')} {rest}")
    return exc


@command
def main(argv: list[str]) -> int:
    try:
        certify(build_parser().parse_args(argv))
    except ValueError as exc:
        raise _name_the_option(exc) from None
    return 0
