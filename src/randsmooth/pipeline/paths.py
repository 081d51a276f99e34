"""Every path under ``results/`` (``R`` = the config key ``results``) and the workflow's targets.

=============================================  ====================================================
pattern                                        content
=============================================  ====================================================
``R/data/{dataset}.json``                      data set check/download record (split sizes, shape)
``R/models/{model}/recipe.json``               resolved training config (the model's identity)
``R/models/{model}/final.pt``                  trained weights (+ checkpoint.pt, log.csv, ...)
``R/soft_targets/{model}/n{N}_seed{S}.pt``     a teacher's smoothed class frequencies on the training
                                               set (N noise draws per image; CAT-RS and Sun et al.)
``R/certify/{run}/run.json``                   sampling settings of the run (its identity)
``R/certify/{run}/shards/{shard}.parquet``     class counts of shard k (resumable)
``R/certify/{run}/counts.parquet``             merged, coverage-checked counts of the run
``R/certify/{run}/metrics/{variant}.json``     the metrics variant (alpha, norm, budget, radii, cost)
``R/certify/{run}/metrics/{variant}.csv``      its metrics (long format), ``.md`` summary and
                                               ``.per_example.parquet`` radii
``R/papers/{paper}/tables.json``               what the paper's tables hold (runs, variants)
``R/papers/{paper}/summary.{csv,md}``          every table of one paper
``R/summary.{csv,md}``                         every enabled paper
``R/logs/<rule>/...``, ``R/benchmarks/...``    each job's log and time/memory
=============================================  ====================================================
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from .plan import Plan

PATTERNS: dict[str, str] = {
    "dataset_record": "data/{dataset}.json",
    "recipe": "models/{model}/recipe.json",
    "weights": "models/{model}/final.pt",
    "soft_targets": "soft_targets/{model}/n{samples}_seed{seed}.pt",
    "run_settings": "certify/{run}/run.json",
    "shard": "certify/{run}/shards/{shard}.parquet",
    "counts": "certify/{run}/counts.parquet",
    "variant": "certify/{run}/metrics/{variant}.json",
    "metrics_csv": "certify/{run}/metrics/{variant}.csv",
    "metrics_md": "certify/{run}/metrics/{variant}.md",
    "metrics_examples": "certify/{run}/metrics/{variant}.per_example.parquet",
    "paper_tables": "papers/{paper}/tables.json",
    "paper_csv": "papers/{paper}/summary.csv",
    "paper_md": "papers/{paper}/summary.md",
    "summary_csv": "summary.csv",
    "summary_md": "summary.md",
}


@dataclass(frozen=True)
class Paths:
    """The patterns of :data:`PATTERNS` under one results folder, as attributes (``paths.shard``)."""

    results: str

    def __getattr__(self, name: str) -> str:
        if name not in PATTERNS:
            raise AttributeError(f"no results path named {name!r}; known: {sorted(PATTERNS)}")
        return self._join(PATTERNS[name])

    def _join(self, relative: str) -> str:
        return posixpath.join(self.results, relative) if self.results else relative

    def log(self, rule: str, name: str) -> str:
        return self._join(posixpath.join("logs", rule, name))

    def benchmark(self, rule: str, name: str) -> str:
        return self._join(posixpath.join("benchmarks", rule, name))

    # ------------------------------------------------------------------ concrete paths
    def weights_of(self, plan: Plan, model_key: str) -> str:
        """The weights a run certifies: the trained final.pt or the imported checkpoint."""
        model = plan.model(model_key)
        return model.checkpoint if model.checkpoint is not None else self.weights.format(model=model_key)

    def soft_targets_of(self, plan: Plan, model_key: str) -> str | None:
        """The soft-target file a model trains with (None if its method uses none)."""
        soft = plan.model(model_key).soft_targets
        if soft is None:
            return None
        return self.soft_targets.format(model=soft.teacher_key, samples=soft.samples, seed=soft.seed)

    def pretrained_of(self, plan: Plan, model_key: str) -> str | None:
        """The weights a model starts from (None if it starts from its own initialisation)."""
        start = plan.model(model_key).pretrained
        return None if start is None else self.weights_of(plan, start)

    def dataset_record_of(self, plan: Plan, model_key: str) -> str:
        return self.dataset_record.format(dataset=plan.model(model_key).dataset.key)

    def shards_of(self, plan: Plan, run_key: str) -> list[str]:
        return [self.shard.format(run=run_key, shard=k) for k in range(plan.run(run_key).shards)]

    def metrics_of(self, plan: Plan, paper: str | None = None) -> list[str]:
        """Metrics CSVs of the tables of ``paper`` (all enabled papers if None), duplicates removed."""
        paths = [
            self.metrics_csv.format(run=e.variant.run_key, variant=e.variant.key) for e in plan.paper_entries(paper)
        ]
        return list(dict.fromkeys(paths))

    # ------------------------------------------------------------------ targets
    def train_targets(self, plan: Plan) -> list[str]:
        return [self.weights.format(model=m) for m in plan.used_models() if plan.models[m].trained]

    def certify_targets(self, plan: Plan) -> list[str]:
        return [self.counts.format(run=r) for r in plan.used_runs()]

    def summary_targets(self, plan: Plan) -> list[str]:
        out = [getattr(self, kind).format(paper=p) for p in plan.papers for kind in ("paper_csv", "paper_md")]
        return out + ([self.summary_csv, self.summary_md] if plan.papers else [])

    def final_targets(self, plan: Plan) -> list[str]:
        """Every final artifact: per-run metrics, per-paper summaries and the overall summary."""
        return self.metrics_of(plan) + self.summary_targets(plan)
