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
``R/papers/{paper}/{table}/<artifact>.*``      the paper's tables (.csv/.md/.tex) and figures
                                               (.pdf/.png/.data.csv), see randsmooth.papers.catalog
``R/papers/{paper}/published_logs.*``          the tables rebuilt from the released logs
``R/papers/{paper}/README.md``, ``claims.csv`` what is where, the runs, deviations, claims
``R/papers/{paper}/summary.{csv,md}``          appendix: every metric of every table of one paper
``R/summary.{csv,md}``                         appendix: every enabled paper
``R/index.{md,csv,json}``                      config name -> folder of every model and run
``R/logs/<rule>/...``, ``R/benchmarks/...``    each job's log and time/memory
=============================================  ====================================================
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from ..papers.catalog import TABLE_FILES, Artifact, artifacts_of
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
    "paper_readme": "papers/{paper}/README.md",
    "paper_claims": "papers/{paper}/claims.csv",
    "published_logs": "papers/{paper}/published_logs",
    "index_json": "index.json",
    "index_md": "index.md",
    "index_csv": "index.csv",
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

    def counts_of(self, plan: Plan, paper: str, tables: list[str] | None = None) -> list[str]:
        """Merged counts of the runs of ``paper``'s tables (all of them if ``tables`` is None)."""
        names = [
            r
            for (p, t), spec in plan.tables.items()
            if p == paper and (tables is None or t in tables)
            for r in spec["runs"]
        ]
        return list(dict.fromkeys(self.counts.format(run=plan.run_names[n]) for n in names))

    def decisions_of(self, plan: Plan, paper: str, tables: list[str] | None = None) -> dict[tuple[str, str], str]:
        """CERTIFY's per-example decisions behind ``paper``'s tables (all if ``tables`` is None):
        (table, run name) -> ``{budget: per-example file}`` flattened to ``(table, run, budget)``
        keys as text: the metrics variant of each row group, one file per (run, budget), the
        variants without a cost matrix first (the cost-sensitive ones hold the same decisions)."""
        out: dict[tuple[str, str], str] = {}
        entries = [e for e in plan.paper_entries(paper) if tables is None or e.table in tables]
        for e in sorted(entries, key=lambda e: "cost" in e.variant.spec):
            key = (e.table, e.run_name, str(e.variant.spec["budget"]))
            out.setdefault(key, self.metrics_examples.format(run=e.variant.run_key, variant=e.variant.key))
        return out

    # ------------------------------------------------------------------ paper artifacts
    def artifacts(self, plan: Plan, paper: str) -> list[Artifact]:
        """The artifacts some table of ``paper`` builds, in the catalog's order."""
        used = {a for (p, _), spec in plan.tables.items() if p == paper for a in spec["artifacts"]}
        return [a for a in artifacts_of(paper) if a.name in used]

    def artifact_tables(self, plan: Plan, artifact: Artifact) -> list[str]:
        return [t for (p, t), spec in plan.tables.items() if p == artifact.paper and artifact.name in spec["artifacts"]]

    def artifact_files(self, plan: Plan, artifact: Artifact) -> list[str]:
        """Every file of ``artifact``: ``papers/<paper>/<table>/<file>`` for each table building it."""
        out = []
        for table in self.artifact_tables(plan, artifact):
            folder = posixpath.join("papers", artifact.paper, table)
            stems = plan.tables[(artifact.paper, table)]["stems"]
            out += [self._join(posixpath.join(folder, f)) for f in artifact.files(stems)]
        return out

    def table_csvs(self, plan: Plan, paper: str) -> list[str]:
        """The CSV of every table artifact of ``paper`` (the README reports their published values)."""
        return [
            f
            for a in self.artifacts(plan, paper)
            if a.kind == "table"
            for f in self.artifact_files(plan, a)
            if f.endswith(".csv")
        ]

    def published_log_files(self, paper: str) -> list[str]:
        return [self.published_logs.format(paper=paper) + suffix for suffix in TABLE_FILES]

    def paper_dir(self, paper: str) -> str:
        return self._join(posixpath.join("papers", paper))

    def paper_targets(self, plan: Plan, paper: str) -> list[str]:
        """Every artifact of one paper, its published-log tables (when configured), README and claims
        (nothing for a paper without artifacts in randsmooth.papers.catalog)."""
        if not artifacts_of(paper):
            return []
        out = [f for a in self.artifacts(plan, paper) for f in self.artifact_files(plan, a)]
        if plan.papers[paper]["published_logs"] is not None:
            out += self.published_log_files(paper)
        return out + [self.paper_readme.format(paper=paper), self.paper_claims.format(paper=paper)]

    def final_targets(self, plan: Plan) -> list[str]:
        """Every final artifact: per-run metrics, the papers' artifacts, the appendix summaries and the index."""
        papers = [f for p in plan.papers for f in self.paper_targets(plan, p)]
        return self.metrics_of(plan) + papers + self.summary_targets(plan) + [self.index_md, self.index_csv]
