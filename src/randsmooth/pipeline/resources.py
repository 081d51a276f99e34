"""Cluster resources of the GPU jobs (train, soft_targets, certify_shard): CPUs, memory, wall time.

The config's ``resources`` section says, per data set (``imagenet``) or data set and architecture
(``imagenet/resnet50``), what a job needs: ``cpus``, ``mem_mb`` (MB of host memory) and a measured
or documented speed -- ``train.epoch_minutes``: minutes of one training epoch with one noisy copy
per image (Gaussian training); ``certify.example_seconds``: seconds to certify one example with
n0 + n = 100,100 samples. The most specific entry that sets a field wins, then ``default`` (whose
``cpus`` null means the config's ``threads``).

Estimated minutes of a job:

* train: epochs x epoch_minutes x passes, passes = m noisy copies x (1 + attack steps) per image
  (``steps`` of SmoothAdv, SmoothMix, CAT-RS; ``attack_steps`` of Sun et al.'s trainer);
* soft_targets: training images x draws / 100,100 x example_seconds / 60;
* certify_shard: examples of the shard x (n0 + n) / 100,100 x example_seconds / 60.

The wall time asked for is estimate x ``margin`` x attempt (a retried job gets more), at least
``min_minutes`` and at most ``max_minutes`` (the partition's limit). A training longer than that
runs as a chain of allocations (:meth:`JobResources.allocations` of them): under SLURM each gets
``train --time-budget`` = its wall time less a reserve (:meth:`JobResources.time_budget`), stops
after the last epoch that fits with exit status 75, and Snakemake's retry resumes it from
checkpoint.pt (the profile's ``retries`` must cover the chain; a certification shard resumes from
its progress file the same way). Memory is mem_mb x attempt up to the third attempt (a chain's
later allocations ask no more). A subset whose size is unknown before the data is read (HAM10000)
gets ``max_minutes``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .checks import data_module, subset_size

if TYPE_CHECKING:
    from .plan import Plan

SAMPLES_PER_EXAMPLE = 100_100  # n0 + n of the papers' CERTIFY, the unit of example_seconds
MAX_MEMORY_FACTOR = 3  # memory grows with the attempt up to this factor (the default profile's 3 attempts)


@dataclass(frozen=True)
class JobResources:
    """What one job asks for: ``cpus``, ``mem_mb`` per attempt and ``minutes`` (None = unknown)
    estimated for one attempt; ``limits`` = the config's margin, min_minutes, max_minutes."""

    cpus: int
    mem_mb: int
    minutes: float | None
    limits: Mapping[str, Any]

    def mem(self, attempt: int = 1) -> int:
        """MB of memory of attempt ``attempt`` (1, 2, ...): mem_mb x attempt, at most x 3."""
        return self.mem_mb * min(attempt, MAX_MEMORY_FACTOR)

    def runtime(self, attempt: int = 1) -> int:
        """Minutes of wall time of attempt ``attempt``, within [min_minutes, max_minutes]."""
        if self.minutes is None:
            return self.limits["max_minutes"]
        wanted = math.ceil(self.minutes * self.limits["margin"] * attempt)
        return min(max(wanted, self.limits["min_minutes"]), self.limits["max_minutes"])

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


def lookup(plan: Plan, dataset: str, arch: str | None, job: str, field: str) -> Any:
    """``field`` of ``job`` (train | certify) from the most specific ``resources`` entry that sets it."""
    section = plan.config["resources"]
    for key in (f"{dataset}/{arch}", dataset, "default"):
        value = section.get(key, {}).get(job, {}).get(field)
        if value is not None:
            return value
    return plan.threads if field == "cpus" else None  # default cpus null = the config's threads


def _job(plan: Plan, model_key: str, job: str, minutes: float | None) -> JobResources:
    model = plan.model(model_key)
    name, arch = model.dataset.name, model.arch
    cpus, mem_mb = lookup(plan, name, arch, job, "cpus"), lookup(plan, name, arch, job, "mem_mb")
    return JobResources(cpus, mem_mb, minutes, plan.config["resources"])


def passes_per_image(train_config: Mapping[str, Any]) -> int:
    """Forward-backward passes per training image and step relative to Gaussian training: m noisy
    copies, each attacked for ``steps`` / ``attack_steps`` more passes where the method attacks."""
    params = train_config["method"]["params"]
    steps = params.get("steps", params.get("attack_steps", 0))
    return train_config["num_noise"] * (1 + int(steps))


def train_job(plan: Plan, model_key: str) -> JobResources:
    """Resources of the ``train`` job of a model."""
    model = plan.model(model_key)
    cfg = model.train_config
    per_epoch = lookup(plan, model.dataset.name, model.arch, "train", "epoch_minutes")
    return _job(plan, model_key, "train", cfg["epochs"] * per_epoch * passes_per_image(cfg))


def _certify_minutes(plan: Plan, model_key: str, examples: int | None, samples: int) -> float | None:
    model = plan.model(model_key)
    seconds = lookup(plan, model.dataset.name, model.arch, "certify", "example_seconds")
    return None if examples is None else examples * samples / SAMPLES_PER_EXAMPLE * seconds / 60


def soft_targets_job(plan: Plan, teacher_key: str, samples: int) -> JobResources:
    """Resources of the ``soft_targets`` job of a teacher with ``samples`` draws per training image."""
    dataset = plan.model(teacher_key).dataset
    images = data_module().split_size(dataset.name, "train", **dataset.loader_options())
    return _job(plan, teacher_key, "certify", _certify_minutes(plan, teacher_key, images, samples))


def certify_job(plan: Plan, run_key: str) -> JobResources:
    """Resources of one ``certify_shard`` job of a run (the largest of its shards)."""
    run = plan.run(run_key)
    subset = {"split": run.split, "start": run.start, "stop": run.stop, "skip": run.skip}
    count = subset_size(run.dataset, subset, f"certify/{run_key}")
    examples = None if count is None else math.ceil(count / run.shards)
    return _job(plan, run.model_key, "certify", _certify_minutes(plan, run.model_key, examples, run.n0 + run.n))


def check_resources(plan: Plan) -> None:
    """Every ``resources`` key names a known architecture, and no training recipe asks for more
    data-loader workers than its job has CPUs (one line naming the recipe or the key)."""
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
