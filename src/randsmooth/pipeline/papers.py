"""The ``papers`` section of a config expanded: tables, their metrics variants, artifacts and options.

A paper table lists certification runs (all of one data set) and says how to read them (alpha,
sidedness, norm, radii, budgets, cost matrices); each (run, budget, cost matrix) is one metrics
variant (:class:`.entries.Variant`) and one row group of the summary. The table also builds the
paper's artifacts (:mod:`randsmooth.papers.catalog`) with its ``options``. A paper may name a
local clone of its authors' repository (``published_logs``) to rebuild its tables from the
released per-example logs.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..papers import catalog
from .checks import (
    MATRIX_KEYS,
    check_budget,
    check_cost_classes,
    check_first_examples,
    check_table_runs,
    label,
    lookup,
    table_cost,
    table_noise_space,
)
from .entries import ModelEntry, RunEntry, TableEntry, Variant
from .keys import content_key, format_number, slug
from .sequential import check_artifacts, check_table, twins

# papers whose authors released per-example certification logs
LOG_PAPERS = ("cohen2019", "sun2025")


@dataclass(frozen=True)
class Sources:
    """What the paper tables read of the rest of the plan: named cost matrices, the runs (by key and
    by config name), the models (by key) and the ``certify`` section (each run's model name)."""

    costs: Mapping[str, Mapping[str, Any]]
    runs: Mapping[str, RunEntry]
    run_names: Mapping[str, str]
    models: Mapping[str, ModelEntry]
    certify: Mapping[str, Mapping[str, Any]]


@dataclass
class Paper:
    """One enabled paper expanded: its ``info`` (title, table names, published logs), its tables by
    (paper, table), its table rows and their metrics variants by (run key, variant key)."""

    info: dict[str, Any]
    tables: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    entries: list[TableEntry] = field(default_factory=list)
    variants: dict[tuple[str, str], Variant] = field(default_factory=dict)


def expand_paper(paper: str, raw: Mapping[str, Any], sources: Sources) -> Paper | None:
    """Paper ``paper`` of the config (``papers/<paper>``) expanded; None when it is not enabled."""
    if not raw["enabled"]:
        return None
    out = Paper(
        {
            "title": raw.get("title", paper),
            "tables": list(raw["tables"]),
            "published_logs": _published_logs(paper, raw.get("published_logs"), f"papers/{paper}/published_logs"),
        }
    )
    for table, spec in raw["tables"].items():
        _add_table(out, sources, paper, table, spec)
    return out


def _published_logs(paper: str, raw: Mapping[str, Any] | None, where: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    if paper not in LOG_PAPERS:
        raise ValueError(f"config key {where!r}: only {list(LOG_PAPERS)} released per-example logs")
    return {
        "root": str(Path(raw["root"]).expanduser()),
        "url": raw["url"],
        "commit": raw["commit"],
        "logs": None if raw["logs"] is None else list(raw["logs"]),
        "sha256": dict(raw["sha256"]),
    }


def _add_table(out: Paper, src: Sources, paper: str, table: str, spec: Mapping[str, Any]) -> None:
    where = f"papers/{paper}/tables/{table}"
    costs: list[dict[str, Any] | None] = [
        table_cost(c, src.costs, f"{where}/costs/{i}", i) for i, c in enumerate(spec["costs"])
    ] or [None]
    runs = [src.runs[lookup(src.run_names, "certify", name, f"{where}/runs")] for name in spec["runs"]]
    by_name = dict(zip(spec["runs"], runs, strict=True))
    datasets = sorted({run.dataset.name for run in runs})
    if len(datasets) > 1:
        raise ValueError(f"config key '{where}/runs': the runs of one table must share a data set, got {datasets}")
    check_cost_classes(costs, runs[0].dataset, f"{where}/costs")
    methods = [src.models[run.model_key].method["name"] for run in runs]
    out.tables[(paper, table)] = {
        "description": spec.get("description", ""),
        "norm": spec["norm"],
        "alpha": float(spec["alpha"]),
        "two_sided": bool(spec["two_sided"]),
        "radii": [float(r) for r in spec["radii"]],
        "envelope": bool(spec["envelope"]),
        "first_examples": check_first_examples(spec["first_examples"], by_name, f"{where}/first_examples"),
        "noise_space": table_noise_space(by_name, f"{where}/runs"),
        "scale": None if spec["scale"] is None else dict(spec["scale"]),
        "budgets": list(spec["budgets"]),
        "pa_thresholds": [float(t) for t in spec["pa_thresholds"]],
        "costs": [c for c in costs if c is not None],
        "dataset": datasets[0],
        "runs": list(spec["runs"]),
        "stems": run_stems(list(spec["runs"]), methods, [run.sigma for run in runs]),
        "artifacts": catalog.table_artifacts(paper, spec["artifacts"], datasets[0], f"{where}/artifacts"),
        "options": catalog.resolve_options(paper, spec["options"], f"{where}/options"),
    }
    check_table_runs(
        paper, out.tables[(paper, table)], {n: (r, src.models[r.model_key]) for n, r in by_name.items()}, where
    )
    artifacts = [catalog.get_artifact(paper, a) for a in out.tables[(paper, table)]["artifacts"]]
    paired = [a.name for a in artifacts if a.pairs]
    if paired:
        out.tables[(paper, table)]["pairs"] = twins(by_name, paired, where)
    for run_name, run in zip(spec["runs"], runs, strict=True):
        if run.sequential is not None:
            check_table(run.sequential, spec, run_name, where)
            check_artifacts({a.name: a.sequential_problem(spec["norm"]) for a in artifacts}, run_name, where)
        model = src.models[run.model_key]
        group = run.noise if model.method["name"] == "gaussian" else f"{run.noise}+{model.method['name']}"
        for budget in spec["budgets"]:
            check_budget(budget, run, run_name, f"{where}/budgets")
            for cost in costs:
                variant = _variant(run, spec, budget, cost)
                out.variants[(run.key, variant.key)] = variant
                row = label(run_name, run, budget, cost, spec)
                model_name = src.certify[run_name]["model"]
                out.entries.append(TableEntry(paper, table, row, group, run_name, model_name, variant))


def run_stems(names: list[str], methods: list[str], sigmas: list[float]) -> list[str]:
    """``<method>_<sigma>`` per run (Sun et al.'s released file names, e.g. ``gaussian_0.25``);
    ``_<run name>`` is appended where two runs of a table share one."""
    stems = [f"{m}_{format_number(s)}" for m, s in zip(methods, sigmas, strict=True)]
    return [slug(s, n) if stems.count(s) > 1 else slug(s) for s, n in zip(stems, names, strict=True)]


def _variant(run: RunEntry, table: Mapping[str, Any], budget: int | None, cost: Mapping[str, Any] | None) -> Variant:
    spec: dict[str, Any] = {
        "alpha": float(table["alpha"]),
        "two_sided": bool(table["two_sided"]),
        "norm": table["norm"],
        "budget": budget,
        "radii": [float(r) for r in table["radii"]],
        "pa_thresholds": [float(t) for t in table["pa_thresholds"]],
    }
    if table["first_examples"] is not None:  # only when set: existing variants keep their keys
        spec["first_examples"] = int(table["first_examples"])
    if cost is not None:
        spec["cost"] = {k: copy.deepcopy(v) for k, v in cost.items() if k in MATRIX_KEYS}
        spec.update(cs_mode=cost["cs_mode"], legacy_alpha=cost["legacy_alpha"], positive_class=cost["positive_class"])
    readable = [
        spec["norm"],
        f"a{format_number(spec['alpha'])}",
        "2s" if spec["two_sided"] else None,
        f"b{budget}" if budget is not None else None,
        f"first{spec['first_examples']}" if "first_examples" in spec else None,
        cost["name"] if cost else None,
    ]
    return Variant(key=content_key(readable, spec), run_key=run.key, spec=spec)
