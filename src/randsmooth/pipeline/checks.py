"""Checks of config values against the library, before any job starts (one line naming the key)."""

from __future__ import annotations

import copy
import math
import os
import posixpath
from collections.abc import Mapping
from typing import Any

from .entries import DatasetEntry, RunEntry

MATRIX_KEYS = ("preset", "dataset", "num_classes", "pairs", "matrix", "seeds", "name")


def data_module() -> Any:
    from .. import data  # imported when needed: torch-free import of the package stays fast

    return data


def results_dir(value: str) -> str:
    if "{" in value or "}" in value:
        raise ValueError(f"config key 'results' must not contain braces, got {value!r}")
    text = posixpath.normpath(os.path.expanduser(value).replace(os.sep, "/"))
    return "" if text == "." else text


def get(mapping: Mapping[Any, Any], key: Any, what: str, prefix: str | None = None) -> Any:
    if key not in mapping:
        message = f"{prefix} {what} {key!r}" if prefix else f"no {what} {key!r} in this config"
        raise ValueError(f"{message}; defined: {sorted(mapping)[:20]}")
    return mapping[key]


def lookup(names: Mapping[str, Any], section: str, name: str, where: str) -> Any:
    """``names[name]``, else one line naming the config key ``where`` and what is defined."""
    if name not in names:
        raise ValueError(f"config key {where!r}: unknown {section} entry {name!r}; defined: {sorted(names)}")
    return names[name]


def check(func: Any, where: str) -> Any:
    """Run a library check; its ``ValueError``/``TypeError`` becomes one line naming ``where``."""
    try:
        return func()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"config key {where!r}: {' '.join(str(exc).split())}") from None


def check_noise(name: str, sigma: float, params: dict[str, Any], dataset: DatasetEntry, where: str) -> None:
    """The noise family accepts ``params`` at this data set's dimension (e.g. Pareto needs a > 2)."""
    from ..sampling import get_noise

    dim = check(lambda: data_module().dataset_spec(dataset.name, **dataset.loader_options()).dim, where)
    check(lambda: get_noise(name, sigma, dim, **params), where)


def check_method(method: Mapping[str, Any], cfg: Mapping[str, Any], dataset: DatasetEntry, where: str) -> Any:
    """The training method exists, accepts its hyper-parameters and can train this model (e.g.
    consistency needs m >= 2 noisy copies); returns the loss object."""
    from ..losses import get_loss
    from ..sampling import get_noise

    loss = check(lambda: get_loss(method["name"], **method["params"]), where)
    spec = data_module().dataset_spec(dataset.name, **dataset.loader_options())
    noise_cfg = cfg["noise"]
    noise = (
        None
        if noise_cfg["sigma"] == 0
        else get_noise(noise_cfg["name"], noise_cfg["sigma"], spec.dim, **noise_cfg["params"])
    )
    check(lambda: loss.check(num_noise=cfg["num_noise"], noise=noise, num_classes=spec.num_classes), where)
    check(lambda: loss.check_noise_space(noise_cfg["space"]), where)
    return loss


def shard_count(raw: Mapping[str, Any], count: int | None, stop_given: bool, where: str) -> int:
    if raw["shards"] is not None and raw["shard_size"] is not None:
        raise ValueError(f"config key '{where}/shard_size': give shards or shard_size, not both")
    if raw["shard_size"] is not None:
        if count is None:
            raise ValueError(
                f"config key '{where}/shard_size' needs examples/stop (the split size is not known here); "
                "or give shards"
            )
        shards = math.ceil(count / raw["shard_size"])
    else:
        shards = raw["shards"] if raw["shards"] is not None else 1
    if count is not None and shards > count:
        raise ValueError(f"config key '{where}/shards': {shards} shards for only {count} examples")
    return shards


def check_cost(cost: Mapping[str, Any], where: str) -> None:
    from ..costs import from_config

    forms = [k for k in ("preset", "pairs", "matrix") if k in cost]
    if len(forms) != 1:
        raise ValueError(
            f"config key {where!r}: give exactly one of preset (with dataset), pairs (with "
            f"num_classes) or matrix, got {forms or 'none'}"
        )
    if "preset" not in cost and "dataset" in cost:
        raise ValueError(f"config key '{where}/dataset' only applies to a preset")
    check(lambda: from_config({k: v for k, v in cost.items() if k in MATRIX_KEYS}), where)


def named_cost(name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """An entry of the top-level ``costs`` section, checked, with its name."""
    cost = {"name": name, **copy.deepcopy(dict(raw))}
    check_cost(cost, f"costs/{name}")
    return cost


def table_cost(raw: Any, costs: Mapping[str, dict[str, Any]], where: str, index: int) -> dict[str, Any]:
    """A table's cost matrix: a name of the top-level ``costs`` section, or an inline entry."""
    if isinstance(raw, str):
        return copy.deepcopy(lookup(costs, "costs", raw, where))
    cost = copy.deepcopy(dict(raw))
    check_cost(cost, where)
    cost.setdefault("name", cost.get("preset") or f"cost{index}")
    return cost


def check_cost_classes(costs: list[dict[str, Any] | None], dataset: DatasetEntry, where: str) -> None:
    """Each cost matrix of a table is K x K of its runs' data set (a smaller one would silently give
    the other classes no cost)."""
    from ..costs import from_config

    k = data_module().dataset_spec(dataset.name, **dataset.loader_options()).num_classes
    for index, cost in enumerate(costs):
        if cost is None:
            continue
        size = from_config({key: v for key, v in cost.items() if key in MATRIX_KEYS}).num_classes
        if size != k:
            raise ValueError(
                f"config key '{where}/{index}': cost matrix {cost['name']!r} is {size} x {size} but the "
                f"table's runs are on {dataset.name} with {k} classes; give a {k} x {k} matrix"
            )


# cohen2019 artifacts that read the runs certified with their model's training noise and sigma
_MATCHED_ARTIFACTS = ("certified_accuracy", "table1", "vary_sigma", "high_prob", "predict")


def check_table_runs(
    paper: str, table: Mapping[str, Any], runs: Mapping[str, tuple[RunEntry, Any]], where: str
) -> None:
    """The runs a table's artifacts need are in it (cohen2019: runs certified with their training
    noise, at ``options/high_prob_sigma`` and ``options/vary_train_noise_sigma``); else the artifact
    job would fail only after training and certification. ``runs``: name -> (run, its model)."""
    if paper != "cohen2019":
        return
    artifacts, options = table["artifacts"], table["options"]
    same_noise = {name: run for name, (run, model) in runs.items() if run.noise == model.noise}
    matched = {name: run for name, (run, model) in runs.items() if name in same_noise and run.sigma == model.sigma}
    needs = [a for a in artifacts if a in _MATCHED_ARTIFACTS]
    if needs and not matched:
        raise ValueError(
            f"config key '{where}/runs': artifacts {needs} need a run certified with its model's training "
            f"noise and sigma; none of {list(runs)} is (or list the table's artifacts without them)"
        )
    for artifact, option, pool in (
        ("high_prob", "high_prob_sigma", matched),
        ("vary_train_noise", "vary_train_noise_sigma", same_noise),
    ):
        sigma = float(options[option])
        if artifact in artifacts and not any(run.sigma == sigma for run in pool.values()):
            raise ValueError(
                f"config key '{where}/options/{option}': no run of the table is certified at sigma = {sigma:g} "
                f"with its training noise (artifact {artifact}); certified: "
                f"{sorted({run.sigma for run in pool.values()})}; set the option, add such a run or leave "
                f"{artifact} out of the table's artifacts"
            )


def check_budget(budget: int | None, run: RunEntry, run_name: str, where: str) -> None:
    if budget is None:
        return
    from ..counts.settings import default_prefix_budgets

    allowed = default_prefix_budgets(run.n)
    if budget not in allowed:
        raise ValueError(
            f"config key {where!r}: budget {budget} is not a recorded prefix budget of run "
            f"{run_name!r} (n = {run.n}): use one of {list(allowed)} or null"
        )


def check_first_examples(first: int | None, runs: Mapping[str, RunEntry], where: str) -> int | None:
    """A table's ``first_examples`` (returned): at most the size of each run's subset, where known."""
    for name, run in runs.items() if first is not None else ():
        subset = {"split": run.split, "start": run.start, "stop": run.stop, "skip": run.skip}
        count = subset_size(run.dataset, subset, where)
        if count is not None and first > count:
            raise ValueError(f"config key {where!r}: {first} examples, but run {name!r} certifies only {count}")
    return first


def table_noise_space(runs: Mapping[str, RunEntry], where: str) -> str:
    """The one noise space of a table's runs; radii in pixel and normalised units never share a table."""
    spaces: dict[str, list[str]] = {}
    for name, run in runs.items():
        spaces.setdefault(run.noise_space, []).append(name)
    if len(spaces) > 1:
        mixed = "; ".join(f"{space}: {', '.join(names)}" for space, names in sorted(spaces.items()))
        raise ValueError(
            f"config key {where!r}: the table mixes runs of different noise spaces ({mixed}); "
            "their radii are in different units, so put them in separate tables"
        )
    return next(iter(spaces))


def label(
    run_name: str, run: RunEntry, budget: int | None, cost: Mapping[str, Any] | None, spec: Mapping[str, Any]
) -> str:
    label = run_name
    if len(spec["budgets"]) > 1:
        label += f" n'={budget if budget is not None else run.n}"
    if cost is not None and len(spec["costs"]) > 1:
        label += f" [{cost['name']}]"
    return label


def expected_subset_size(dataset: DatasetEntry, ex: Mapping[str, Any]) -> int | None:
    """Size of ``range(start, stop, skip)`` on the split's expected size (``expected_split_size``:
    the full published data set where the real size is known only once the data is read), for wall
    times and the bill; :func:`subset_size` has checked the subset already."""
    size = data_module().expected_split_size(dataset.name, ex["split"], **dataset.loader_options())
    return _range_length(ex, size)


def subset_size(dataset: DatasetEntry, ex: Mapping[str, Any], where: str) -> int | None:
    """Size of ``range(start, stop, skip)``, checked against the split size where it is known."""
    size = data_module().split_size(dataset.name, ex["split"], **dataset.loader_options())
    stop = ex["stop"]
    if stop is not None and stop <= ex["start"]:
        raise ValueError(f"config key '{where}/examples/stop' must be > start ({ex['start']}), got {stop}")
    if size is not None and stop is not None and stop > size:
        raise ValueError(
            f"config key '{where}/examples/stop': {stop} is beyond the {ex['split']} split of "
            f"{dataset.name} ({size} examples)"
        )
    if size is not None and ex["start"] >= size:
        raise ValueError(
            f"config key '{where}/examples/start': {ex['start']} is beyond the {ex['split']} split of "
            f"{dataset.name} ({size} examples)"
        )
    return _range_length(ex, size)


def _range_length(ex: Mapping[str, Any], size: int | None) -> int | None:
    """len(range(start, end, skip)), end = ``stop`` cut at the split's ``size``; None if both are unknown."""
    stop = ex["stop"]
    end = size if stop is None else stop if size is None else min(stop, size)
    return None if end is None else len(range(ex["start"], end, ex["skip"]))
