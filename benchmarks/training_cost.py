"""Training cost of every method on digits (digits_cnn) relative to Gaussian augmentation, in one run.

Not a test. Trains each method with the reduced digits settings below (the ones recommended for the
default config: ``digits`` recipe of 30 epochs, width-16 ``digits_cnn``, batch 64, sigma = 0.25, one
CPU thread) and prints, per method, seconds per epoch (training + the loop's per-epoch evaluation
and the method's extra passes, from ``log.csv``), the ratio to ``gaussian`` and the total. CAT-RS's
soft targets come from the ``gaussian`` model of the same run (timed separately). Sun et al. report
their trainer at 2-3x Gaussian on CIFAR-10 (RTX 4090).

    python benchmarks/training_cost.py [--epochs 30] [--methods gaussian macer ...] [--out DIR]

``--epochs`` shortens every schedule (Sun et al.'s switch epoch and re-weighting interval scale
with it).
"""

from __future__ import annotations

import argparse
import copy
import csv
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from randsmooth.data import load_dataset
from randsmooth.models import load_model
from randsmooth.sampling import get_noise
from randsmooth.soft_targets import compute_soft_targets, save_soft_targets
from randsmooth.train import train

EPOCHS = 30
SIGMA = 0.25
TEACHER_SAMPLES = 100  # CAT-RS soft targets: 100 noisy copies per training image (reference: 10,000)
S_PAIR = {"name": "s-pair 3-5", "num_classes": 10, "pairs": [[3, 5, 1.0]]}
S_SEED = {"name": "s-seed 3", "num_classes": 10, "pairs": [[3, j, 1.0] for j in range(10) if j != 3]}
SUN = {"switch_epoch": 12, "reweight_interval": 2, "attack_steps": 3, "attack_epsilon": 0.05}

# method label -> (method name, params, num_noise): the reduced digits settings (sigma = 0.25)
METHODS: dict[str, tuple[str, dict[str, Any], int]] = {
    "gaussian": ("gaussian", {}, 1),
    "gaussian_m2": ("gaussian", {}, 2),
    "smoothadv": ("smoothadv", {"epsilon": 0.5, "steps": 2, "warmup": 3}, 2),
    "macer": ("macer", {"lbd": 12.0, "gamma": 8.0, "beta": 16.0}, 4),
    "consistency": ("consistency", {"lbd": 20.0, "eta": 0.5}, 2),
    "smoothmix": ("smoothmix", {"alpha": 0.5, "steps": 2, "eta": 5.0, "mix_step": 0, "warmup": 3}, 2),
    "catrs": ("catrs", {"lbd": 0.5, "epsilon": 0.5, "steps": 1, "teacher_samples": TEACHER_SAMPLES}, 2),
    "sun2025": ("sun2025", dict(SUN), 2),
    "acr_discard": ("acr_discard", {"switch_epoch": 12}, 2),
    "acr_reweight": ("acr_reweight", {"switch_epoch": 12, "reweight_interval": 2}, 2),
    "acr_adaptive_attack": ("acr_adaptive_attack", {"switch_epoch": 12, "attack_steps": 3, "attack_epsilon": 0.05}, 2),
    "gaussian_cs": ("gaussian_cs", {"cost": S_SEED, "seed_weight": 0.1}, 1),
    "smoothadv_cs": ("smoothadv_cs", {"cost": S_SEED, "seed_weight": 0.1, "epsilon": 0.5, "steps": 2, "warmup": 3}, 2),
    "smoothmix_cs": ("smoothmix_cs", {"cost": S_SEED, "seed_weight": 0.1, "alpha": 0.5, "steps": 2, "eta": 5.0}, 2),
    "margin_cs_seedwise": ("margin_cs", {"cost": S_SEED, "variant": "seedwise"}, 4),
    "margin_cs_pairwise": ("margin_cs", {"cost": S_PAIR, "variant": "pairwise"}, 4),
}


def config(name: str, params: dict[str, Any], num_noise: int, epochs: int) -> dict[str, Any]:
    """The digits recipe of the default config with one method."""
    return {
        "dataset": {"name": "digits"},
        "model": {"arch": "digits_cnn", "params": {"width": 16}},
        "noise": {"name": "gaussian", "sigma": SIGMA},
        "method": {"name": name, "params": params},
        "epochs": epochs,
        "batch_size": 64,
        "num_noise": num_noise,
        "optimizer": {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.0005},
        "schedule": {"name": "cosine"},
        "seed": 0,
        "device": "cpu",
        "workers": 0,
        "threads": 1,
        "test_batch_size": 512,
    }


def scaled(params: dict[str, Any], epochs: int) -> dict[str, Any]:
    """Sun et al.'s epoch-valued settings scaled from the 30-epoch schedule to ``epochs``."""
    out = copy.deepcopy(params)
    for key in ("switch_epoch", "reweight_interval"):
        if key in out:
            out[key] = max(1, round(out[key] * epochs / EPOCHS))
    return out


def epoch_seconds(run_dir: Path) -> list[float]:
    with open(run_dir / "log.csv", newline="") as handle:
        return [float(row["time_s"]) for row in csv.DictReader(handle)]


def teacher_targets(model_path: Path, out: Path) -> tuple[Path, float]:
    """CAT-RS soft targets of the gaussian model on the digits training set; (path, seconds)."""
    started = time.perf_counter()
    model, _ = load_model(model_path)
    data = load_dataset("digits", "train", augment=False)
    noise = get_noise("gaussian", SIGMA, 64)
    targets = compute_soft_targets(model, data, noise, TEACHER_SAMPLES, seed=0, batch=1000, device="cpu")
    return save_soft_targets(out, targets, TEACHER_SAMPLES, 0), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"epochs per method (default {EPOCHS})")
    parser.add_argument("--methods", nargs="*", default=list(METHODS), help="method labels (default: all)")
    parser.add_argument("--out", default=None, help="keep the runs here (default: a temporary directory)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    labels = ["gaussian"] + [m for m in args.methods if m != "gaussian"]
    root = Path(args.out or tempfile.mkdtemp(prefix="training_cost_"))
    rows, soft_targets, teacher_s = [], None, 0.0
    for label in labels:
        name, params, m = METHODS[label]
        if name == "catrs" and soft_targets is None:
            soft_targets, teacher_s = teacher_targets(root / "gaussian" / "final.pt", root / "soft_targets.pt")
        cfg = config(name, scaled(params, args.epochs), m, args.epochs)
        train(cfg, root / label, resume=False, soft_targets=soft_targets if name == "catrs" else None)
        seconds = epoch_seconds(root / label)
        rows.append((label, m, sum(seconds) / len(seconds), sum(seconds)))
    base = rows[0][2]
    print(f"digits_cnn (width 16), sigma {SIGMA}, {args.epochs} epochs of 1,347 images, batch 64, 1 CPU thread")
    print(f"{'method':<22}{'m':>3}{'s/epoch':>10}{'x gaussian':>12}{'total s':>10}")
    for label, m, per_epoch, total in rows:
        print(f"{label:<22}{m:>3}{per_epoch:>10.2f}{per_epoch / base:>12.2f}{total:>10.1f}")
    if soft_targets is not None:
        print(f"{'catrs soft targets':<22}{'':>3}{'':>10}{'':>12}{teacher_s:>10.1f}  ({TEACHER_SAMPLES} samples/image)")
    print(f"{'all methods':<22}{'':>3}{'':>10}{'':>12}{sum(r[3] for r in rows) + teacher_s:>10.1f}")


if __name__ == "__main__":
    main()
