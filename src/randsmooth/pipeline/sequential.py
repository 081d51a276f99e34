"""Sequential certification runs in the workflow: a certify entry's ``sequential`` settings completed
from the paper tables that read the run, and the tables checked against them.

A sequential run (:func:`randsmooth.counts.spec.sequential_settings`) stops sampling an example
once its stopping rule decides it; the rule uses the certificates' alpha, norm and radii while
sampling, so they are part of the run's identity. The entry gives ``mode`` and ``max_n`` (the run's
``n``) and may give ``norm``, ``alpha`` and ``radii`` (or ``radius``) itself; the ones it leaves out
come from the enabled tables that list the run, which must agree. A table that reads a sequential
run with another alpha, norm or radii, with prefix budgets or two-sided bounds is refused (the
certificate exists only at each example's stop, one-sided: :func:`randsmooth.decide.certify`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..counts.spec import sequential_settings
from .entries import RunEntry

_FROM_TABLES = ("norm", "alpha", "radii")


def _reading_tables(config: Mapping[str, Any], run_name: str) -> list[tuple[str, Mapping[str, Any]]]:
    """(config key, table) of the enabled paper tables that list run ``run_name``."""
    return [
        (f"papers/{paper}/tables/{table}", spec)
        for paper, raw in config["papers"].items()
        if raw["enabled"]
        for table, spec in raw["tables"].items()
        if run_name in spec["runs"]
    ]


def run_settings(config: Mapping[str, Any], run_name: str, raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The canonical ``sequential`` settings of certify entry ``run_name`` (``raw`` its entry's
    ``sequential`` mapping, ``where`` its config key): the keys it leaves out of norm, alpha and
    radii taken from the tables that read the run (radius mode needs ``radius`` in the entry)."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"config key {where!r}: expected a mapping (mode, max_n, ...), got {raw!r}")
    settings = dict(raw)
    tables = _reading_tables(config, run_name)
    for key in _FROM_TABLES:
        if key in settings or (key == "radii" and settings.get("mode") == "radius"):
            continue
        values = {repr(_table_value(spec, key)): (k, _table_value(spec, key)) for k, spec in tables}
        if not values:
            raise ValueError(f"config key '{where}/{key}': required (no enabled paper table reads this run)")
        if len(values) > 1:
            first, second = sorted(k for k, _ in values.values())[:2]
            raise ValueError(
                f"config key '{where}/{key}': the tables {first!r} and {second!r} read this run with "
                f"different {key}; give it in the entry"
            )
        settings[key] = next(iter(values.values()))[1]
    try:
        return sequential_settings(settings)
    except ValueError as exc:
        raise ValueError(f"config key {where!r}: {exc}") from None


def _table_value(spec: Mapping[str, Any], key: str) -> Any:
    if key == "radii":
        return sorted({float(r) for r in spec["radii"]})
    return float(spec[key]) if key == "alpha" else spec[key]


def check_table(seq: Mapping[str, Any], spec: Mapping[str, Any], run_name: str, where: str) -> None:
    """Refuse table ``spec`` (config key ``where``) reading sequential run ``run_name`` (settings
    ``seq``) with another alpha, norm or radii (grid mode), prefix budgets, two-sided bounds or cost
    matrices."""
    checks = [
        ("alpha", float(spec["alpha"]) == seq["alpha"], f"alpha {seq['alpha']:g}"),
        ("norm", spec["norm"] == seq["norm"], f"norm {seq['norm']}"),
        (
            "radii",
            seq["mode"] == "radius" or _table_value(spec, "radii") == seq["radii"],
            f"radii {seq['radii']}",
        ),
        ("budgets", list(spec["budgets"]) == [None], "budgets [null] (certificates at the stop only)"),
        ("two_sided", not spec["two_sided"], "two_sided false (one-sided certificates)"),
        ("costs", not spec["costs"], "no costs (cost-sensitive certification reads fixed-N counts)"),
    ]
    for key, ok, expected in checks:
        if not ok:
            raise ValueError(
                f"config key '{where}/{key}': run {run_name!r} is sequential (sampled for "
                f"alpha {seq['alpha']:g}, norm {seq['norm']}, radii {seq['radii']}); expected {expected}, "
                f"got {spec[key]!r}"
            )


def check_artifacts(problems: Mapping[str, str], run_name: str, where: str) -> None:
    """Refuse a table listing sequential run ``run_name`` and an artifact that cannot read it
    (``problems``: artifact name -> why, "" where it can;
    :meth:`randsmooth.papers.catalog.Artifact.sequential_problem`)."""
    for name, why in problems.items():
        if why:
            raise ValueError(
                f"config key '{where}/artifacts': artifact {name!r} cannot read sequential run {run_name!r}: "
                f"{why} (a sequential run stops each example where its rule decided); list the table's "
                "artifacts without it, or read a fixed-N run"
            )


def _sampling(run: RunEntry) -> dict[str, Any]:
    """What makes two runs draw the same noise for the same examples (sharding does not matter)."""
    out = run.identity()
    out.pop("sequential", None)
    out.pop("shards", None)
    return out


def twins(runs: Mapping[str, RunEntry], artifacts: list[str], where: str) -> list[list[str]]:
    """``[sequential run, its fixed-N twin]`` for every sequential run of a table whose ``artifacts``
    compare the two (config key ``where``): the twin samples the same model, noise, sigma, n0,
    examples and seed with n = max_n, so its prefix counts equal the sequential run's counts at
    every checkpoint the latter reached (:mod:`randsmooth.rounds`). Every run must be in a pair."""
    sequential = [name for name, run in runs.items() if run.sequential is not None]
    fixed = [name for name, run in runs.items() if run.sequential is None]
    if not sequential:
        raise ValueError(
            f"config key '{where}/runs': the artifacts {artifacts} compare sequential runs with their "
            "fixed-N twins; the table lists no sequential run"
        )
    pairs = []
    for name in sequential:
        match = [f for f in fixed if _sampling(runs[f]) == _sampling(runs[name])]
        if not match:
            raise ValueError(
                f"config key '{where}/runs': sequential run {name!r} has no fixed-N twin in the table "
                f"(a run of the same model, noise, sigma, n0, examples and seed with n = max_n "
                f"{runs[name].n}) for the artifacts {artifacts}"
            )
        pairs.append([name, match[0]])
    unpaired = [f for f in fixed if f not in {twin for _, twin in pairs}]
    if unpaired:
        raise ValueError(
            f"config key '{where}/runs': run {unpaired[0]!r} is not the fixed-N twin of a sequential run "
            f"of the table (the artifacts {artifacts} show pairs only)"
        )
    return pairs
