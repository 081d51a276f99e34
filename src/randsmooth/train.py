"""Training loop for base classifiers of smoothed models (one loop; a method = a loss object).

``train(config, out_dir)`` trains ``config["model"]["arch"]`` on ``config["dataset"]`` with the
training method ``config["method"]`` (see :mod:`randsmooth.losses`) and the noise
``config["noise"]`` (any family of :mod:`randsmooth.sampling`; sigma in [0, 1] pixel units,
0 = clean training; with ``noise.space: normalized`` the noise is added after the model's
``Normalize`` and sigma is in normalised units, see :mod:`randsmooth.models.noise_space`).
Outputs in ``out_dir``:

* ``checkpoint.pt`` (every epoch) and ``final.pt`` (end): see :mod:`randsmooth.models.checkpoint`;
  ``epoch`` = number of completed epochs; ``extra.config`` = the resolved config.
* ``log.csv``: one row per completed epoch (epoch 1-based, lr used in the epoch, train loss/acc
  (accuracy of the loss's logits, i.e. on the noisy copies), method statistics ``train_<name>``,
  clean test loss/acc, noisy test loss/acc under one seeded noise draw per test image, time_s).
* ``config.yaml`` (resolved config with every default), ``versions.json``, ``train.log``; a final
  model whose clean or noisy test accuracy is at chance level gets a logged warning
  (:func:`randsmooth.chance.degenerate_warnings`).

Reproducibility: every random stream is a generator seeded from (seed, stream, epoch): model
initialisation, data order (the DataLoader's generator, which also seeds its workers), the data
set's augmentation (``set_epoch``), the training noise, torch's global RNG (dropout) and the
method's extra passes over the training set (``estimate``, e.g. Sun et al.'s p_A); the evaluation
noise uses a fixed seed per run. The method's per-example state (``loss.state_dict()``: discard
mask, sampling weights) is stored in every checkpoint as ``extra.loss_state``. A run resumed from
``checkpoint.pt`` therefore ends with bit-identical weights to an uninterrupted one on the same
hardware and software (CPU, workers = 0 is tested); the generator states are also stored in the
checkpoint for provenance. Checkpoints hold no wall-clock data (epoch times are in ``log.csv``
only), so two identical trainings, interrupted or not, write byte-identical ``checkpoint.pt`` and
``final.pt`` files. The schedule is stepped once per epoch, after it.

Each epoch: ``loss.on_epoch_start`` (extra passes over the un-augmented training set), then
``loss.sampling_weights`` (None: a shuffled pass; else len(train set) draws with replacement from
the weights, e.g. after Sun et al.'s discarding), then one optimizer step per batch. Methods that
need a teacher's soft targets (CAT-RS) get them from the ``soft_targets`` file argument of
:func:`train`, a runtime input outside the config.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import math
import os
import platform
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from . import __version__, seeding
from .accumulate import accumulated_step
from .atomic import atomic_write_text
from .chance import degenerate_warnings
from .device import select_device
from .losses import EpochContext, StepContext, TrainingLoss, get_loss
from .models import create_model, load_checkpoint, load_pretrained, save_checkpoint, smoothed_part, to_noise_space
from .sampling import Noise, get_noise
from .soft_targets import load_soft_targets
from .train_config import comparable, config_differences, resolve_config
from .train_data import IndexedDataset, LazyDataset, data_options, file_sha256, load_data, load_plain_train, make_loader

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
EXIT_PAUSED = 75  # EX_TEMPFAIL: a training paused by its time budget; run it again to resume


class TrainingPaused(Exception):
    """Training stopped before an epoch that would not end within ``time_budget_s``; checkpoint.pt
    holds every finished epoch, and running it again resumes there (bit-identical)."""

    def __init__(self, checkpoint: Path, epoch: int, epochs: int) -> None:
        super().__init__(f"{checkpoint}: paused after epoch {epoch} of {epochs} (time budget); run again to resume")
        self.checkpoint, self.epoch, self.epochs = checkpoint, epoch, epochs


def _clock() -> float:
    """Seconds of a monotonic clock (the time budget's; replaced in tests)."""
    return time.monotonic()


FINAL_NAME = "final.pt"
LOG_NAME = "log.csv"
# --------------------------------------------------------------------------------------- seeding
_STREAMS = {"init": 0, "data": 1, "noise": 2, "global": 3, "eval": 4, "estimate": 5}


def derive_seed(seed: int, stream: str, epoch: int = 0) -> int:
    """A 63-bit seed for ``stream`` in epoch ``epoch`` of a run with seed ``seed``."""
    return seeding.derive_seed(seed, _STREAMS[stream], epoch)


# ------------------------------------------------------------------------------------ file output
WALL_CLOCK_COLUMNS = ("time_s",)  # log.csv columns that depend on the machine's speed: never in a checkpoint


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _parse_value(text: str) -> Any:
    """A log cell back as int, float or (otherwise) the string itself."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def checkpoint_metrics(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """The last log row as a checkpoint stores it: the log's values, without the wall-clock ``time_s``.

    Values go through the log's text form (:func:`_format_value`), so a row computed in this process
    and the same row read back from ``log.csv`` after a resume store identical values, and two
    identical trainings (interrupted or not) write byte-identical checkpoints: the sha256 of
    ``final.pt`` (certification's ``model_id``) identifies the training, not the moment it ran.
    """
    if row is None:
        return None
    return {key: _parse_value(_format_value(value)) for key, value in row.items() if key not in WALL_CLOCK_COLUMNS}


def write_log(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rewrite the per-epoch CSV log atomically (columns: union of row keys, first-seen order)."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _format_value(value) for key, value in row.items()})
    atomic_write_text(path, buffer.getvalue())


def read_log(path: Path, max_epoch: int) -> list[dict[str, Any]]:
    """Rows of an existing log with epoch <= ``max_epoch`` (as strings), or [] if there is none."""
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row for row in rows if row.get("epoch", "").isdigit() and int(row["epoch"]) <= max_epoch]


def library_versions(device: torch.device) -> dict[str, Any]:
    """Versions of the software the run used (written to versions.json)."""
    import torchvision  # local: only needed here

    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "randsmooth": __version__,
        "cuda": torch.version.cuda,
        "platform": platform.platform(),
        "device": str(device),
    }
    if device.type == "cuda":
        versions["cudnn"] = torch.backends.cudnn.version()
        versions["device_name"] = torch.cuda.get_device_name(device)
    return versions


# --------------------------------------------------------------------------------- optimisation
def build_optimizer(model: nn.Module, cfg: dict[str, Any]) -> torch.optim.Optimizer:
    """SGD over all parameters (BN included, as in the reference trainers)."""
    opt = cfg["optimizer"]
    return torch.optim.SGD(
        model.parameters(),
        lr=opt["lr"],
        momentum=opt["momentum"],
        weight_decay=opt["weight_decay"],
        nesterov=opt["nesterov"],
    )


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: dict[str, Any]) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-epoch schedule: step (StepLR), multistep (MultiStepLR), cosine (CosineAnnealingLR) or constant."""
    sched = cfg["schedule"]
    name = sched["name"]
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=sched["step_size"], gamma=sched["gamma"])
    if name == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=sched["milestones"], gamma=sched["gamma"])
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=sched["t_max"], eta_min=sched["eta_min"])
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _epoch: 1.0)


def _build_noise(cfg: dict[str, Any], dim: int) -> Noise | None:
    if cfg["noise"]["sigma"] == 0:
        return None
    return get_noise(cfg["noise"]["name"], cfg["noise"]["sigma"], dim, **cfg["noise"]["params"])


# ---------------------------------------------------------------------------------------- epochs
def _batches(loader: DataLoader, desc: str) -> Iterator[Any]:
    return iter(tqdm(loader, desc=desc, leave=False, dynamic_ncols=True, mininterval=1.0, disable=None))


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    loss_fn: TrainingLoss,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    ctx: StepContext,
    amp: bool,
    desc: str,
    micro_batches: int = 1,
) -> dict[str, float]:
    """One pass over ``loader`` (yielding (x, y, index)); returns mean loss, accuracy and method
    stats. Each step runs :func:`accumulated_step` with ``micro_batches``."""
    device = ctx.device
    model.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    stat_sums: dict[str, torch.Tensor] = {}
    seen = predictions = 0
    for step, (x, y, index) in enumerate(_batches(loader, desc)):
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        step_ctx = dataclasses.replace(ctx, example_index=index, step=step)
        optimizer.zero_grad(set_to_none=True)
        result = accumulated_step(model, loss_fn, x, y, step_ctx, scaler, amp, min(micro_batches, x.shape[0]))
        scaler.step(optimizer)
        scaler.update()
        n = x.shape[0]
        seen += n
        loss_sum += result.loss.detach().double() * n
        labels = y if result.labels is None else result.labels
        correct += (result.logits.detach().argmax(dim=1) == labels).sum()
        predictions += labels.numel()
        for name, value in result.stats.items():
            value = torch.as_tensor(value, device=device).detach().double()
            stat_sums[name] = stat_sums.get(name, torch.zeros((), dtype=torch.float64, device=device)) + value * n
    if seen == 0:
        raise ValueError("the training set is empty")
    metrics = {"train_loss": loss_sum.item() / seen, "train_acc": correct.item() / predictions}
    metrics.update({f"train_{name}": total.item() / seen for name, total in stat_sums.items()})
    if not math.isfinite(metrics["train_loss"]):
        raise FloatingPointError(
            f"{desc}: training loss is {metrics['train_loss']} (diverged); lower optimizer.lr or check the data"
        )
    return metrics


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: DataLoader, noise: Noise | None, device: torch.device, seed: int, amp: bool = False
) -> dict[str, float]:
    """Clean and noisy (one draw per image, generator seeded by ``seed``) test loss and accuracy."""
    model.eval()
    generator = torch.Generator(device=device).manual_seed(seed)
    sums = {"test_loss": 0.0, "test_acc": 0.0, "noisy_test_loss": 0.0, "noisy_test_acc": 0.0}
    seen = 0
    for x, y in _batches(loader, "eval"):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        inputs = {"test": x} if noise is None else {"test": x, "noisy_test": noise.sample(x, generator)}
        for prefix, batch in inputs.items():
            with torch.autocast(device.type, enabled=amp):
                logits = model(batch)
            sums[f"{prefix}_loss"] += nn.functional.cross_entropy(logits.float(), y, reduction="sum").item()
            sums[f"{prefix}_acc"] += (logits.argmax(dim=1) == y).sum().item()
        seen += x.shape[0]
    if seen == 0:
        raise ValueError("the test set is empty")
    out = {key: value / seen for key, value in sums.items()}
    if noise is None:
        out["noisy_test_loss"] = out["noisy_test_acc"] = float("nan")
    return out


# ------------------------------------------------------------------------------------ the driver
class _Run:
    """State of one training run (kept together so epochs, checkpoints and resume share it)."""

    def __init__(
        self,
        cfg: dict[str, Any],
        out_dir: Path,
        device: torch.device,
        soft_targets: str | os.PathLike[str] | None,
        init: str | os.PathLike[str] | None = None,
    ) -> None:
        self.cfg, self.out_dir, self.device = cfg, out_dir, device
        self.amp = bool(cfg["amp"]) and device.type == "cuda"
        if cfg["amp"] and not self.amp:
            logger.warning("amp: true ignored: automatic mixed precision is CUDA-only and the device is %s", device)
        self.spec, train_set, test_set = load_data(cfg)
        targets = getattr(getattr(test_set, "dataset", test_set), "targets", None)  # a Subset is a prefix
        self.test_labels = None if targets is None else list(targets)[: len(test_set)]
        self.noise = _build_noise(cfg, self.spec.dim)
        torch.manual_seed(derive_seed(cfg["seed"], "init"))
        self.model = create_model(cfg["model"]["arch"], self.spec, **cfg["model"]["params"]).to(device)
        self.init_sha256 = self._start_from(init)
        # the noise reaches the whole model (pixel space) or the net after Normalize (normalized)
        space = cfg["noise"]["space"]
        self.smoothed = smoothed_part(self.model, space)
        self.train_set = IndexedDataset(to_noise_space(train_set, self.model, space))
        self.plain_train_set = to_noise_space(LazyDataset(lambda: load_plain_train(cfg)), self.model, space)
        self.test_loader = make_loader(
            to_noise_space(test_set, self.model, space),
            cfg["test_batch_size"],
            False,
            derive_seed(cfg["seed"], "eval", 1),
            cfg["workers"],
            device,
        )
        self.loss_fn = get_loss(cfg["method"]["name"], **cfg["method"]["params"])
        self.loss_fn.check(num_noise=cfg["num_noise"], noise=self.noise, num_classes=self.spec.num_classes)
        self.loss_fn.check_noise_space(space)
        self.soft_targets_sha256 = self._attach_soft_targets(soft_targets)
        self.optimizer = build_optimizer(self.model, cfg)
        self.scheduler = build_scheduler(self.optimizer, cfg)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.rng: dict[str, torch.Tensor] = {}
        self.rows: list[dict[str, Any]] = []
        self.start_epoch = 0

    def _start_from(self, path: str | os.PathLike[str] | None) -> str | None:
        """Copy a pre-trained network into the model (not a classifier of another size); the file's sha256."""
        if path is None:
            return None
        fresh = load_pretrained(self.model, path)
        logger.info("starting from the network of %s; own initialisation kept for %s", path, fresh)
        return file_sha256(path)

    def _attach_soft_targets(self, path: str | os.PathLike[str] | None) -> str | None:
        """Give the loss its soft targets (checked against the training set); returns the file's sha256."""
        name = self.loss_fn.name
        if not self.loss_fn.needs_soft_targets:
            if path is not None:
                raise ValueError(f"soft targets {path} given, but training method {name!r} does not use them")
            return None
        if path is None:
            raise ValueError(
                f"training method {name!r} needs soft targets of a smoothed teacher on the training set: pass "
                "soft_targets= (--soft-targets FILE, made by `python -m randsmooth soft-targets`)"
            )
        loaded = load_soft_targets(path, len(self.train_set), self.spec.num_classes)
        self.loss_fn.set_soft_targets(loaded.targets, loaded.num_samples, loaded.seed)
        return file_sha256(path)

    def resume(self, path: Path) -> None:
        checkpoint = load_checkpoint(path, "cpu")
        stored = (checkpoint.get("extra") or {}).get("config")
        if stored is None:
            raise ValueError(f"{path}: not a training checkpoint of this loop (no extra.config)")
        # resolved again: keys added to the config since (e.g. noise.space) read as their defaults
        diffs = config_differences(comparable(resolve_config(stored)), comparable(self.cfg))
        if diffs:
            raise ValueError(
                f"{path}: cannot resume, the config changed ({'; '.join(diffs[:3])}); "
                "use --no-resume or another output directory"
            )
        for key in ("state_dict", "optimizer", "scheduler", "epoch"):
            if checkpoint.get(key) is None:
                raise ValueError(f"{path}: checkpoint is missing key {key!r} needed to resume")
        self.model.load_state_dict(checkpoint["state_dict"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        if self.amp and checkpoint["extra"].get("scaler"):
            self.scaler.load_state_dict(checkpoint["extra"]["scaler"])
        if checkpoint["extra"].get("soft_targets_sha256") != self.soft_targets_sha256:
            raise ValueError(f"{path}: cannot resume, the soft targets differ from the ones the run started with")
        if checkpoint["extra"].get("init_sha256") != self.init_sha256:
            raise ValueError(f"{path}: cannot resume, the pre-trained start differs from the one the run started with")
        self.loss_fn.load_state_dict(checkpoint["extra"].get("loss_state") or {})
        self.rng = dict(checkpoint.get("rng") or {})  # kept if no epoch is left to run (final.pt as uninterrupted)
        self.start_epoch = int(checkpoint["epoch"])
        self.rows = read_log(self.out_dir / LOG_NAME, self.start_epoch)
        logger.info("resuming %s after epoch %d of %d", path, self.start_epoch, self.cfg["epochs"])

    def run_epoch(self, epoch: int) -> dict[str, Any]:
        cfg, seed = self.cfg, self.cfg["seed"]
        started = time.perf_counter()
        self.train_set.set_epoch(epoch)
        estimate = EpochContext(
            noise=self.noise,
            seed=derive_seed(seed, "estimate", epoch),
            epoch=epoch,
            num_epochs=cfg["epochs"],
            num_noise=cfg["num_noise"],
            device=self.device,
            batch_size=cfg["test_batch_size"],
        )
        self.loss_fn.on_epoch_start(self.smoothed, self.plain_train_set, estimate)
        weights = self.loss_fn.sampling_weights(epoch)
        loader_seed = derive_seed(seed, "data", epoch)
        loader = make_loader(self.train_set, cfg["batch_size"], True, loader_seed, cfg["workers"], self.device, weights)
        noise_gen = torch.Generator(device=self.device).manual_seed(derive_seed(seed, "noise", epoch))
        torch.manual_seed(derive_seed(seed, "global", epoch))
        ctx = StepContext(
            noise=self.noise,
            generator=noise_gen,
            device=self.device,
            epoch=epoch,
            num_epochs=cfg["epochs"],
            num_noise=cfg["num_noise"],
        )
        lr = self.optimizer.param_groups[0]["lr"]
        desc = f"epoch {epoch + 1}/{cfg['epochs']}"
        metrics = train_one_epoch(
            self.smoothed, loader, self.loss_fn, self.optimizer, self.scaler, ctx, self.amp, desc, cfg["micro_batches"]
        )
        self.scheduler.step()
        self.rng = {
            "torch_cpu": torch.get_rng_state(),
            "noise_generator": noise_gen.get_state(),
            "loader_generator": loader.generator.get_state(),
        }
        metrics.update(
            evaluate(self.smoothed, self.test_loader, self.noise, self.device, derive_seed(seed, "eval"), self.amp)
        )
        row = {"epoch": epoch + 1, "lr": lr, **metrics, "time_s": time.perf_counter() - started}
        logger.info(
            "%s: lr %.4g, train loss %.4f acc %.4f, test acc %.4f, noisy test acc %.4f (%.1f s)",
            desc,
            lr,
            row["train_loss"],
            row["train_acc"],
            row["test_acc"],
            row["noisy_test_acc"],
            row["time_s"],
        )
        return row

    def save(self, path: Path, epoch: int) -> Path:
        extra = {
            "config": self.cfg,
            "noise": self.noise.describe() if self.noise is not None else None,
            "method": {"name": self.loss_fn.name, **self.loss_fn.params()},
            "metrics": checkpoint_metrics(self.rows[-1] if self.rows else None),
            "scaler": self.scaler.state_dict() if self.amp else None,
            "loss_state": self.loss_fn.state_dict(),
            "soft_targets_sha256": self.soft_targets_sha256,
            "init_sha256": self.init_sha256,
            "rng_scheme": "per-epoch generators seeded from (seed, stream, epoch); see randsmooth.train",
        }
        return save_checkpoint(
            path,
            model=self.model,
            arch=self.cfg["model"]["arch"],
            dataset=self.spec.name,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            epoch=epoch,
            extra=extra,
            dataset_options=data_options(self.cfg),
            rng=self.rng,
        )


def train(
    config: dict[str, Any],
    out_dir: str | os.PathLike[str],
    resume: bool = True,
    soft_targets: str | os.PathLike[str] | None = None,
    init: str | os.PathLike[str] | None = None,
    time_budget_s: float | None = None,
) -> Path:
    """Train per ``config`` (see :mod:`randsmooth.train_config`) into ``out_dir``; returns the path of final.pt.

    ``time_budget_s``: seconds this call may run. Before each epoch after its first, training stops
    with :class:`TrainingPaused` when the time used so far plus the longest epoch of this call would
    exceed it (a cluster allocation's wall time less a margin): the checkpoint of the last epoch is
    on disk and the next call resumes from it, so a chain of calls ends with the weights of one
    uninterrupted run. At least one epoch runs per call.

    ``soft_targets``: a soft-target file (:mod:`randsmooth.soft_targets`) for methods that need one
    (``catrs``; ``sun2025`` with ``discard_source: teacher``). ``init``: a pre-trained checkpoint to
    start from (:func:`randsmooth.models.load_pretrained`: its network without a classifier of another
    size; Yang et al.'s Imagenet32 pre-training). Both are runtime inputs, not part of the config;
    their sha256 is stored in the checkpoint and must not change on resume.
    """
    cfg = resolve_config(config)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = select_device(cfg["device"])
    handler = logging.FileHandler(out_dir / "train.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    devices = [device.index or 0] if device.type == "cuda" else []
    threads = torch.get_num_threads()
    try:
        if cfg["threads"] is not None:
            torch.set_num_threads(cfg["threads"])
        with torch.random.fork_rng(devices=devices):  # leave the caller's global RNG state untouched
            return _train(cfg, out_dir, device, resume, soft_targets, init, time_budget_s)
    finally:
        torch.set_num_threads(threads)
        logger.removeHandler(handler)
        handler.close()


def _train(
    cfg: dict[str, Any],
    out_dir: Path,
    device: torch.device,
    resume: bool,
    soft_targets: str | os.PathLike[str] | None,
    init: str | os.PathLike[str] | None,
    time_budget_s: float | None = None,
) -> Path:
    started = _clock()
    run = _Run(cfg, out_dir, device, soft_targets, init)
    checkpoint_path = out_dir / CHECKPOINT_NAME
    if resume and checkpoint_path.is_file():
        run.resume(checkpoint_path)  # refuses a changed config before anything is written
    atomic_write_text(out_dir / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
    atomic_write_text(out_dir / "versions.json", json.dumps(library_versions(device), indent=2) + "\n")
    logger.info(
        "training %s on %s (%s, sigma %s, method %r) for %d epochs on %s; output %s",
        cfg["model"]["arch"],
        run.spec.name,
        cfg["noise"]["name"],
        cfg["noise"]["sigma"],
        run.loss_fn,
        cfg["epochs"],
        device,
        out_dir,
    )
    longest, first = 0.0, run.start_epoch
    for epoch in range(run.start_epoch, cfg["epochs"]):
        if time_budget_s is not None and epoch > first and _clock() - started + longest > time_budget_s:
            raise TrainingPaused(checkpoint_path, epoch, cfg["epochs"])
        epoch_start = _clock()
        run.rows.append(run.run_epoch(epoch))
        write_log(out_dir / LOG_NAME, run.rows)  # log first: a resume truncates rows beyond the checkpoint
        run.save(checkpoint_path, epoch + 1)
        longest = max(longest, _clock() - epoch_start)
    final = run.save(out_dir / FINAL_NAME, cfg["epochs"])
    for warning in degenerate_warnings(run.rows[-1:], run.test_labels, run.spec.num_classes):
        logger.warning("%s", warning)
    logger.info("finished: %s", final)
    return final
