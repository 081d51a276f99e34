"""Cluster resources of the GPU jobs (train, soft_targets, certify_shard): CPUs, memory, wall time.

The config's ``resources`` section says, per data set (``imagenet``) or data set and architecture
(``imagenet/resnet50``), what a job needs: ``cpus``, ``mem_mb`` (MB of host memory) and a measured
or documented speed -- ``train.epoch_minutes``: minutes of one training epoch with one noisy copy
per image (Gaussian training); ``certify.example_seconds``: seconds to certify one example with
n0 + n = 100,100 samples. The most specific entry that sets a field wins, then ``default`` (whose
``cpus`` null means the config's ``threads``).

Estimated minutes of a job:

* train: epoch_minutes x passes per training image over the whole training, from the method's own
  cost model (:meth:`randsmooth.losses.TrainingLoss.training_passes`): per epoch m noisy copies x
  the forward-backward passes of each copy per step (1 for Gaussian training, MACER, Consistency;
  2 for stability training's two copies; 1 + T for SmoothAdv's T attack steps, 2 + T for
  SmoothMix and CAT-RS; 1 + T from E_t on for Sun et al.'s ADAPTIVEADV), plus a third of a pass per
  forward-only estimation draw (Sun et al.'s p_A estimates);
* soft_targets: training images x draws / 100,100 x example_seconds / 60;
* certify_shard: examples of the shard x (n0 + n) / 100,100 x example_seconds / 60.

The wall time asked for is estimate x ``margin`` x attempt (a retried job gets more), at least
``min_minutes`` and at most ``max_minutes`` (the partition's limit). A training longer than that
runs as a chain of allocations (:meth:`JobResources.allocations` of them): under SLURM each gets
``train --time-budget`` = its wall time less a reserve (:meth:`JobResources.time_budget`), stops
after the last epoch that fits with exit status 75, and Snakemake's retry resumes it from
checkpoint.pt (the profile's ``retries`` must cover the chain; a certification shard resumes from
its progress file the same way). Memory is mem_mb x attempt up to the third attempt (a chain's
later allocations ask no more). HAM10000, whose split is known only once its metadata is read, is
sized on the full published data set (8012 / 2003 images with Xin et al.'s image-level split; a
fifth of the 10,015 images in a lesion-grouped test fold); a subset of unknown size gets ``max_minutes``.

GPU memory (:mod:`.memory`): each job's estimated peak (``gpu_mb``, MiB) is passed to Snakemake as
the resource ``gpu_mem_mb``; with ``gpu_features`` (SLURM node features and their GiB) the job asks
sbatch for the features whose GPUs hold it (``--constraint "a|b"``). Certification and soft-target
jobs get the largest batch that fits ``gpu_memory_gb`` (at most the configured one).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from . import memory
from .checks import data_module, expected_subset_size
from .entries import ModelEntry, RunEntry

SAMPLES_PER_EXAMPLE = 100_100  # n0 + n of the papers' CERTIFY, the unit of example_seconds
SOFT_TARGETS_BATCH = 1000  # rows per forward pass of `randsmooth soft-targets` (its --batch default)
MIB = 2**20
MAX_MEMORY_FACTOR = 3  # memory grows with the attempt up to this factor (the default profile's 3 attempts)


class PlanView(Protocol):
    """What the estimates read of a plan (:class:`.plan.Plan` is one; this module does not import
    it: the plan imports :func:`check_resources` to check itself when it is built)."""

    config: Mapping[str, Any]
    threads: int
    models: Mapping[str, ModelEntry]
    model_names: Mapping[str, str]
    run_names: Mapping[str, str]

    def model(self, key: str) -> ModelEntry: ...
    def run(self, key: str) -> RunEntry: ...
    def used_models(self) -> list[str]: ...
    def used_runs(self) -> list[str]: ...


@dataclass(frozen=True)
class JobResources:
    """What one job asks for: ``cpus``, ``mem_mb`` per attempt and ``minutes`` (None = unknown)
    estimated for one attempt; ``limits`` = the config's resources section (margin, min_minutes,
    max_minutes, gpu_features); ``gpu_mb`` = estimated peak GPU memory in MiB."""

    cpus: int
    mem_mb: int
    minutes: float | None
    limits: Mapping[str, Any]
    gpu_mb: int = 0

    def mem(self, attempt: int = 1) -> int:
        """MB of memory of attempt ``attempt`` (1, 2, ...): mem_mb x attempt, at most x 3."""
        return self.mem_mb * min(attempt, MAX_MEMORY_FACTOR)

    def runtime(self, attempt: int = 1) -> int:
        """Minutes of wall time of attempt ``attempt``, within [min_minutes, max_minutes]."""
        if self.minutes is None:
            return self.limits["max_minutes"]
        wanted = math.ceil(self.minutes * self.limits["margin"] * attempt)
        return min(max(wanted, self.limits["min_minutes"]), self.limits["max_minutes"])

    def constraint(self) -> str:
        """sbatch ``--constraint`` of the GPU types (``gpu_features``) whose memory holds ``gpu_mb``,
        smallest first, joined by ``|`` (empty when no feature does, or none is declared)."""
        features = sorted(self.limits.get("gpu_features", {}).items(), key=lambda kv: (kv[1], kv[0]))
        return "|".join(name for name, gb in features if gb * 1024 >= self.gpu_mb)

    def time_budget(self, attempt: int = 1) -> float:
        """Minutes a training may run within the wall time of attempt ``attempt`` (:func:`time_budget`)."""
        return time_budget(self.runtime(attempt))

    def allocations(self) -> int:
        """Allocations the estimate needs: estimate x margin over the time budget of one allocation
        of ``max_minutes`` (1 when it fits; None estimates count as 1)."""
        if self.minutes is None:
            return 1
        budget = JobResources(self.cpus, self.mem_mb, None, self.limits).time_budget()
        return max(1, math.ceil(self.minutes * self.limits["margin"] / budget))


def time_budget(runtime: float) -> float:
    """Minutes of ``train --time-budget`` within an allocation of ``runtime`` minutes: the wall time
    less a reserve for start-up and the last checkpoint (5 % of it, 5 to 30 minutes, at most half)."""
    return runtime - min(30.0, max(5.0, 0.05 * runtime), runtime / 2)


def lookup(plan: PlanView, dataset: str, arch: str | None, job: str, field: str) -> Any:
    """``field`` of ``job`` (train | certify) from the most specific ``resources`` entry that sets it."""
    section = plan.config["resources"]
    for key in (f"{dataset}/{arch}", dataset, "default"):
        value = section.get(key, {}).get(job, {}).get(field)
        if value is not None:
            return value
    return plan.threads if field == "cpus" else None  # default cpus null = the config's threads


def _job(plan: PlanView, model_key: str, job: str, minutes: float | None, gpu_bytes: int = 0) -> JobResources:
    model = plan.model(model_key)
    name, arch = model.dataset.name, model.arch
    cpus, mem_mb = lookup(plan, name, arch, job, "cpus"), lookup(plan, name, arch, job, "mem_mb")
    return JobResources(cpus, mem_mb, minutes, plan.config["resources"], math.ceil(gpu_bytes / MIB))


def _footprint(plan: PlanView, model_key: str) -> tuple[int, int, int, int] | None:
    """The model's memory footprint (:func:`.memory.footprint`); None for an imported checkpoint
    without an architecture."""
    model = plan.model(model_key)
    if model.arch is None:
        return None
    if model.train_config is not None:
        params = model.train_config["model"]["params"]
    else:  # an imported checkpoint: the arch_params of its config entry
        name = next(n for n, k in plan.model_names.items() if k == model_key)
        params = plan.config["models"][name].get("arch_params") or {}
    return memory.footprint(model.arch, params, model.dataset)


def eval_batch(plan: PlanView, model_key: str, batch: int, where: str) -> int:
    """The largest inference batch <= ``batch`` of the model that fits ``gpu_memory_gb``."""
    fp = _footprint(plan, model_key)
    limit = memory.gpu_bytes(plan.config["resources"])
    return batch if fp is None else memory.certify_batch(fp, batch, limit, where)


def _eval_bytes(plan: PlanView, model_key: str, batch: int) -> int:
    fp = _footprint(plan, model_key)
    return 0 if fp is None else memory.eval_peak(fp, batch)


@functools.lru_cache(maxsize=1024)
def _method_cost(method_json: str, num_noise: int, epochs: int) -> tuple[float, int]:
    from ..losses import get_loss  # the plan's method checks have imported it already

    method = json.loads(method_json)
    loss = get_loss(method["name"], **method["params"])
    return loss.training_passes(num_noise, epochs), int(loss.held_passes)


def _cost(train_config: Mapping[str, Any]) -> tuple[float, int]:
    """(training passes, held passes) of the method (remembered: every job's resources ask)."""
    method = json.dumps(train_config["method"], sort_keys=True)
    return _method_cost(method, int(train_config["num_noise"]), int(train_config["epochs"]))


def held_passes(train_config: Mapping[str, Any]) -> int:
    """Forward passes of each noisy copy whose activations the method's one backward keeps."""
    return _cost(train_config)[1]


def training_passes(train_config: Mapping[str, Any]) -> float:
    """Passes per training image over a whole training (units of one forward-backward pass of one
    image; Gaussian training with m = 1 makes one per epoch), from the method's cost model."""
    return _cost(train_config)[0]


def train_job(plan: PlanView, model_key: str) -> JobResources:
    """Resources of the ``train`` job of a model."""
    model = plan.model(model_key)
    cfg = model.train_config
    per_epoch = lookup(plan, model.dataset.name, model.arch, "train", "epoch_minutes")
    need = memory.train_need(cfg, model.dataset, held_passes(cfg))
    return _job(plan, model_key, "train", per_epoch * training_passes(cfg), need)


def _certify_minutes(plan: PlanView, model_key: str, examples: int | None, samples: int) -> float | None:
    model = plan.model(model_key)
    seconds = lookup(plan, model.dataset.name, model.arch, "certify", "example_seconds")
    return None if examples is None else examples * samples / SAMPLES_PER_EXAMPLE * seconds / 60


def soft_targets_job(plan: PlanView, teacher_key: str, samples: int) -> JobResources:
    """Resources of the ``soft_targets`` job of a teacher with ``samples`` draws per training image."""
    dataset = plan.model(teacher_key).dataset
    images = data_module().expected_split_size(dataset.name, "train", **dataset.loader_options())
    minutes = _certify_minutes(plan, teacher_key, images, samples)
    batch = soft_targets_batch(plan, teacher_key)
    return _job(plan, teacher_key, "certify", minutes, _eval_bytes(plan, teacher_key, batch))


def soft_targets_batch(plan: PlanView, teacher_key: str) -> int:
    """Rows per forward pass of a teacher's ``soft_targets`` job (fits ``gpu_memory_gb``)."""
    name = next(n for n, k in plan.model_names.items() if k == teacher_key)
    return eval_batch(plan, teacher_key, SOFT_TARGETS_BATCH, f"models/{name}")


def _run_examples(plan: PlanView, run_key: str) -> int | None:
    """Examples a run certifies (HAM10000: on the full data set's split, see :func:`expected_subset_size`)."""
    run = plan.run(run_key)
    subset = {"split": run.split, "start": run.start, "stop": run.stop, "skip": run.skip}
    return expected_subset_size(run.dataset, subset)


def certify_job(plan: PlanView, run_key: str) -> JobResources:
    """Resources of one ``certify_shard`` job of a run (the largest of its shards)."""
    run = plan.run(run_key)
    count = _run_examples(plan, run_key)
    examples = None if count is None else math.ceil(count / run.shards)
    minutes = _certify_minutes(plan, run.model_key, examples, run.n0 + run.n)
    return _job(plan, run.model_key, "certify", minutes, _eval_bytes(plan, run.model_key, certify_batch(plan, run_key)))


def certify_batch(plan: PlanView, run_key: str) -> int:
    """Rows per forward pass of a run's ``certify_shard`` jobs: its ``batch``, lowered to fit
    ``gpu_memory_gb`` (the counts do not depend on it)."""
    run = plan.run(run_key)
    name = next(n for n, k in plan.run_names.items() if k == run_key)
    return eval_batch(plan, run.model_key, run.batch, f"certify/{name}/batch")


def run_minutes(plan: PlanView, run_key: str) -> float | None:
    """Estimated minutes of all the ``certify_shard`` jobs of a run together (None = unknown size)."""
    run = plan.run(run_key)
    return _certify_minutes(plan, run.model_key, _run_examples(plan, run_key), run.n0 + run.n)


def _check_gpu_type(job: JobResources, where: str) -> None:
    if job.limits["gpu_features"] and not job.constraint():
        raise ValueError(
            f"config key {where!r}: the job needs about {job.gpu_mb / 1024:.1f} GiB of GPU memory, more than "
            f"every GPU type of resources/gpu_features {dict(job.limits['gpu_features'])}"
        )


def check_resources(plan: PlanView) -> None:
    """Every ``resources`` key names a known architecture, no training recipe asks for more
    data-loader workers than its job has CPUs, every certification fits the declared GPU memory and
    every GPU job one of the declared GPU types (one line naming the recipe or the key)."""
    from ..models import arch_names

    for key in plan.config["resources"]:
        arch = key.partition("/")[2]
        if arch and arch not in arch_names():
            raise ValueError(
                f"config key 'resources/{key}': unknown architecture {arch!r}; expected one of {arch_names()}"
            )
    used = set(plan.used_models())
    for name, key in plan.model_names.items():
        model = plan.models[key]
        if model.trained and key in used:
            cpus = train_job(plan, key).cpus
            if model.train_config["workers"] > cpus:
                raise ValueError(
                    f"config key 'models/{name}/recipe': {model.train_config['workers']} data-loader workers, but "
                    f"a training job of {model.dataset.name}/{model.arch} has {cpus} CPUs; raise "
                    f"resources/{model.dataset.name}/train/cpus or lower the recipe's workers"
                )
            _check_gpu_type(train_job(plan, key), f"models/{name}/recipe")
            if model.soft_targets is not None:
                soft = model.soft_targets
                _check_gpu_type(soft_targets_job(plan, soft.teacher_key, soft.samples), f"models/{name}/method")
    runs = set(plan.used_runs())
    for name, key in plan.run_names.items():
        if key in runs:
            _check_gpu_type(certify_job(plan, key), f"certify/{name}/batch")  # certify_job: fits or raises
