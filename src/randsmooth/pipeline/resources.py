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
``min_minutes`` and at most ``max_minutes`` (the partition's limit: a longer job is cut there and
resumes on its retry, training from checkpoint.pt and certification from the shard's progress
file); memory is mem_mb x attempt. A subset whose size is unknown before the data is read (HAM10000)
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


@dataclass(frozen=True)
class JobResources:
    """What one job asks for: ``cpus``, ``mem_mb`` per attempt and ``minutes`` (None = unknown)
    estimated for one attempt; ``limits`` = the config's margin, min_minutes, max_minutes."""

    cpus: int
    mem_mb: int
    minutes: float | None
    limits: Mapping[str, Any]

    def mem(self, attempt: int = 1) -> int:
        """MB of memory of attempt ``attempt`` (1, 2, ...)."""
        return self.mem_mb * attempt

    def runtime(self, attempt: int = 1) -> int:
        """Minutes of wall time of attempt ``attempt``, within [min_minutes, max_minutes]."""
        if self.minutes is None:
            return self.limits["max_minutes"]
        wanted = math.ceil(self.minutes * self.limits["margin"] * attempt)
        return min(max(wanted, self.limits["min_minutes"]), self.limits["max_minutes"])


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


def training_passes(train_config: Mapping[str, Any]) -> float:
    """Passes per training image over a whole training (units of one forward-backward pass of one
    image; Gaussian training with m = 1 makes one per epoch), from the method's cost model."""
    from ..losses import get_loss  # the plan's method checks have imported it already

    method = train_config["method"]
    loss = get_loss(method["name"], **method["params"])
    return loss.training_passes(int(train_config["num_noise"]), int(train_config["epochs"]))


def train_job(plan: Plan, model_key: str) -> JobResources:
    """Resources of the ``train`` job of a model."""
    model = plan.model(model_key)
    cfg = model.train_config
    per_epoch = lookup(plan, model.dataset.name, model.arch, "train", "epoch_minutes")
    return _job(plan, model_key, "train", per_epoch * training_passes(cfg))


def _certify_minutes(plan: Plan, model_key: str, examples: int | None, samples: int) -> float | None:
    model = plan.model(model_key)
    seconds = lookup(plan, model.dataset.name, model.arch, "certify", "example_seconds")
    return None if examples is None else examples * samples / SAMPLES_PER_EXAMPLE * seconds / 60


def soft_targets_job(plan: Plan, teacher_key: str, samples: int) -> JobResources:
    """Resources of the ``soft_targets`` job of a teacher with ``samples`` draws per training image."""
    dataset = plan.model(teacher_key).dataset
    images = data_module().split_size(dataset.name, "train", **dataset.loader_options())
    return _job(plan, teacher_key, "certify", _certify_minutes(plan, teacher_key, images, samples))


def _run_examples(plan: Plan, run_key: str) -> int | None:
    run = plan.run(run_key)
    subset = {"split": run.split, "start": run.start, "stop": run.stop, "skip": run.skip}
    return subset_size(run.dataset, subset, f"certify/{run_key}")


def certify_job(plan: Plan, run_key: str) -> JobResources:
    """Resources of one ``certify_shard`` job of a run (the largest of its shards)."""
    run = plan.run(run_key)
    count = _run_examples(plan, run_key)
    examples = None if count is None else math.ceil(count / run.shards)
    return _job(plan, run.model_key, "certify", _certify_minutes(plan, run.model_key, examples, run.n0 + run.n))


def run_minutes(plan: Plan, run_key: str) -> float | None:
    """Estimated minutes of all the ``certify_shard`` jobs of a run together (None = unknown size)."""
    run = plan.run(run_key)
    return _certify_minutes(plan, run.model_key, _run_examples(plan, run_key), run.n0 + run.n)


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
