"""``python -m randsmooth soft-targets``: a smoothed teacher's class frequencies on the training set.

CAT-RS (``method: {name: catrs}``) trains against these soft targets; they are computed once per
(teacher, noise, sample count, seed) by this command, never inside training, and passed to
``python -m randsmooth train --soft-targets FILE``. Example (CAT-RS's recipe: a Gaussian teacher,
10,000 samples per training image)::

    python -m randsmooth soft-targets --checkpoint models/gaussian_0.25/final.pt \\
        --num-samples 10000 --seed 0 --batch 1000 --out soft_targets/gaussian_0.25.pt

The data set (training split, no augmentation) and the noise default to those the teacher was
trained with (its checkpoint's ``extra.config``); reference-layout checkpoints need ``--dataset``
and ``--sigma``. The output holds tensors only (see :mod:`randsmooth.soft_targets`); the counts
depend only on (teacher, noise, data, num-samples, seed), not on ``--batch`` or the device type's
batch composition.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import torch

from .common import Parser, command, key_value, key_values

logger = logging.getLogger(__name__)


def build_parser() -> Parser:
    p = Parser(prog="python -m randsmooth soft-targets", description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True, help="teacher model checkpoint (ours, Cohen's or MACER's layout)")
    p.add_argument("--arch", default=None, help="architecture, needed only for MACER-layout checkpoints")
    p.add_argument("--out", required=True, help="output .pt file (overwritten atomically)")
    p.add_argument("--num-samples", type=int, default=10000, help="noise samples per training example (10000)")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    p.add_argument("--batch", type=int, default=1000, help="model batch in rows (does not change the result)")
    p.add_argument("--dataset", default=None, help="data set (default: the teacher's)")
    p.add_argument("--data-root", default=None, help="data set root directory (default: the teacher's)")
    p.add_argument("--dataset-option", type=key_value, action="append", default=[], metavar="KEY=VALUE", help="option")
    p.add_argument("--noise", default=None, help="noise family (default: the teacher's, else gaussian)")
    p.add_argument("--noise-param", type=key_value, action="append", default=[], metavar="KEY=VALUE", help="parameter")
    p.add_argument("--sigma", type=float, default=None, help="noise level (default: the teacher's training sigma)")
    p.add_argument("--noise-space", default=None, help="pixel or normalized (default: the teacher's, else pixel)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--num-threads", type=int, default=None, help="CPU threads for torch")
    return p


def _teacher_settings(info: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Data set and noise settings: command-line values, else the teacher's training config."""
    config = (info.get("extra") or {}).get("config") or {}
    data, noise = config.get("dataset") or {}, config.get("noise") or {}
    options = key_values(args.dataset_option, "--dataset-option") or dict(data.get("options") or {})
    settings = {
        "dataset": args.dataset or data.get("name") or info.get("dataset"),
        "root": args.data_root if args.data_root is not None else data.get("root"),
        "options": options,
        "data_seed": data.get("seed") if args.dataset is None else None,
        "noise": args.noise or noise.get("name") or "gaussian",
        "noise_params": key_values(args.noise_param, "--noise-param") or dict(noise.get("params") or {}),
        "sigma": args.sigma if args.sigma is not None else noise.get("sigma"),
        "noise_space": args.noise_space or noise.get("space") or "pixel",
    }
    if settings["dataset"] is None:
        raise ValueError(f"--checkpoint {args.checkpoint} does not record its data set; pass --dataset")
    if settings["sigma"] is None or not 0 < settings["sigma"] < float("inf"):
        raise ValueError(f"--sigma must be a positive finite number (teacher's unknown), got {settings['sigma']}")
    return settings


def soft_targets(args: argparse.Namespace) -> Path:
    """Compute and save the soft targets described by parsed ``args``; returns the output path."""
    from ..data import dataset_spec, load_dataset
    from ..device import select_device
    from ..models import NonFiniteLogitsError, load_model, smoothed_part, to_noise_space
    from ..sampling import get_noise
    from ..soft_targets import compute_soft_targets, save_soft_targets

    checks = (("--num-samples", args.num_samples, 1), ("--seed", args.seed, 0), ("--batch", args.batch, 1))
    for name, value, low in checks:
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    if not Path(args.checkpoint).is_file():
        raise FileNotFoundError(f"--checkpoint {args.checkpoint}: no such file")
    device = select_device(args.device)
    if args.num_threads is not None:
        torch.set_num_threads(args.num_threads)
    model, info = load_model(args.checkpoint, device, arch=args.arch, dataset=args.dataset)
    s = _teacher_settings(info, args)
    spec = dataset_spec(s["dataset"], **s["options"])
    if int(info["num_classes"]) != spec.num_classes:
        raise ValueError(f"--checkpoint has {info['num_classes']} classes but {spec.name} has {spec.num_classes}")
    noise = get_noise(s["noise"], s["sigma"], spec.dim, **s["noise_params"])
    dataset = load_dataset(s["dataset"], "train", s["root"], augment=False, seed=s["data_seed"], **s["options"])
    logger.info(
        "soft targets of %s on %s/train (%d examples), %r in %s space, %d samples each",
        args.checkpoint,
        spec.name,
        len(dataset),
        noise,
        s["noise_space"],
        args.num_samples,
    )
    smoothed, inputs = smoothed_part(model, s["noise_space"]), to_noise_space(dataset, model, s["noise_space"])
    try:
        targets = compute_soft_targets(smoothed, inputs, noise, args.num_samples, args.seed, args.batch, device)
    except NonFiniteLogitsError as exc:
        raise ValueError(f"--checkpoint {args.checkpoint}: {exc}") from None
    path = save_soft_targets(args.out, targets, args.num_samples, args.seed)
    logger.info("wrote %s", path)
    return path


@command
def main(argv: list[str]) -> int:
    soft_targets(build_parser().parse_args(argv))
    return 0
