"""Workflow configuration: validation, expansion into content-addressed jobs, and rule arguments.

The Snakemake workflow (``Snakefile``, ``workflow/rules/*.smk``) is orchestration only; everything
it needs to know about a config lives here, where it can be unit-tested:

* :func:`validate_config` -- JSON-Schema validation (``config/schema.yaml``) that fills in the
  schema's defaults, exactly like Snakemake's ``validate``; errors name the offending key.
* :class:`Workflow` -- the validated config expanded into data sets, models, certification runs,
  metrics variants and paper tables, with cross-references checked (``ValueError`` naming the
  key). Output folders are **content-addressed**: a readable slug plus a short SHA-256 of the
  fully resolved recipe (``digits_digits_cnn_gaussian_gaussian-0.25-3f9c2a1b07``), so a model or
  run declared under several names (or by several papers) is computed once, and changing any
  hyper-parameter gives a new folder instead of silently reusing an old result.
* argument builders (:meth:`Workflow.certify_args`, :meth:`Workflow.metrics_args`, ...) that return
  complete, ``shlex``-quoted argument strings, so config values with spaces or shell characters
  reach the commands verbatim and cannot inject a command.
* a small command line used by the rules::

      python -m randsmooth.workflow_config prepare-data --name NAME --root DIR ... --out FILE.json
      python -m randsmooth.workflow_config summary --spec JSON --out-csv F.csv --out-md F.md
      python -m randsmooth.workflow_config describe --config config/config.yaml

Layout of the results folder (``R`` = config key ``results``)::

    R/data/<dataset>.json                     data set check/download record (sizes, spec)
    R/costs/<cost>.json                       a free-form cost matrix (cost presets need no file)
    R/models/<model>/recipe.json              resolved training config (the model's identity)
    R/models/<model>/final.pt                 trained weights (+ checkpoint.pt, log.csv, ...)
    R/certify/<run>/shards/<k>.parquet        class counts of shard k (resumable, see results)
    R/certify/<run>/counts.parquet            merged, coverage-checked counts of the run
    R/certify/<run>/metrics/<variant>.csv     metrics (long format), .md summary, per-example
    R/papers/<paper>/summary.{csv,md}         every table of one paper
    R/summary.{csv,md}                        every enabled paper
    R/logs/<rule>/..., R/benchmarks/<rule>/...

This module imports neither torch nor the data sets at import time (the Snakefile imports it
while building the DAG, also on a cluster's login node).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import math
import os
import posixpath
import re
import shlex
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text

log = logging.getLogger(__name__)

HASH_LENGTH = 10
MATRIX_KEYS = ("preset", "dataset", "num_classes", "pairs", "matrix", "seeds", "name")
# device keys of a training config that are set per job, not part of a model's identity
RUNTIME_TRAIN_KEYS = ("device", "threads")
# the per-schedule keys of randsmooth.train (defaults must agree with train._SCHEDULES)
SCHEDULE_KEYS: dict[str, dict[str, Any]] = {
    "step": {"step_size": None, "gamma": 0.1},
    "multistep": {"milestones": None, "gamma": 0.1},
    "cosine": {"t_max": None, "eta_min": 0.0},
    "constant": {},
}
KEY_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.+-]*"
PATTERNS: dict[str, str] = {
    "dataset": "data/{dataset}.json",
    "cost": "costs/{cost}.json",
    "recipe": "models/{model}/recipe.json",
    "final": "models/{model}/final.pt",
    "shard": "certify/{run}/shards/{shard}.parquet",
    "counts": "certify/{run}/counts.parquet",
    "metrics_csv": "certify/{run}/metrics/{variant}.csv",
    "metrics_md": "certify/{run}/metrics/{variant}.md",
    "metrics_examples": "certify/{run}/metrics/{variant}.per_example.parquet",
    "paper_csv": "papers/{paper}/summary.csv",
    "paper_md": "papers/{paper}/summary.md",
    "summary_csv": "summary.csv",
    "summary_md": "summary.md",
}


# ------------------------------------------------------------------------------ validation
def _defaulting_validator(schema: Mapping[str, Any]) -> Any:
    """A Draft 2020-12 validator that fills in ``default`` values (copies) while validating."""
    from jsonschema import Draft202012Validator, validators

    validate_properties = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator: Any, properties: Mapping[str, Any], instance: Any, schema: Any) -> Any:
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if isinstance(subschema, dict) and "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(Draft202012Validator, {"properties": set_defaults})(schema)


def load_yaml(path: str | os.PathLike[str]) -> Any:
    """Parse a YAML (or JSON) file; ``ValueError`` naming the file if it cannot be parsed."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: cannot parse YAML ({' '.join(str(exc).split())[:200]})") from None


def validate_config(config: dict[str, Any], schema_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Validate ``config`` against the JSON schema, filling in defaults in place; return it.

    Raises ``ValueError("config key 'models/x/arch': ... ")`` naming the first invalid key.
    """
    import jsonschema

    schema = load_yaml(schema_path)
    if not isinstance(config, dict):
        raise ValueError(f"config must be a mapping at the top level, got {type(config).__name__}")
    try:
        _defaulting_validator(schema).validate(config)
    except jsonschema.ValidationError as exc:
        parts = [str(p) for p in exc.absolute_path]
        if exc.validator == "additionalProperties" and isinstance(exc.instance, dict):
            known = set(exc.schema.get("properties", {}))
            patterns = list(exc.schema.get("patternProperties", {}))
            extra = sorted(k for k in exc.instance if k not in known and not any(re.search(p, k) for p in patterns))
            if extra:
                raise ValueError(
                    f"config key {'/'.join(parts + [str(extra[0])])!r} is not allowed "
                    f"(unknown key); expected one of {sorted(known)}"
                ) from None
        where = "/".join(parts) or "<top level>"
        raise ValueError(f"config key {where!r}: {exc.message}") from None
    return config


def load_config(path: str | os.PathLike[str], schema_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a config file (defaults filled in)."""
    return validate_config(load_yaml(path), schema_path)


# ------------------------------------------------------------------------- content keys
def canonical_json(obj: Any) -> str:
    """Deterministic JSON text (sorted keys, no spaces) used for hashing and parameters."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def short_hash(obj: Any, length: int = HASH_LENGTH) -> str:
    """First ``length`` hex digits of the SHA-256 of :func:`canonical_json` of ``obj``."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()[:length]


def slug(*parts: Any) -> str:
    """Readable, path-safe name: the parts joined by ``_``, other characters replaced by ``-``."""
    text = "_".join(str(p) for p in parts if p is not None and str(p) != "")
    text = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9.+_-]+", "-", text)).strip("-_.")
    return text[:80] or "x"


def content_key(readable: Sequence[Any], identity: Any) -> str:
    """``slug(readable)-hash(identity)``: the folder name of one model, run, data set or variant."""
    return f"{slug(*readable)}-{short_hash(identity)}"


def format_number(value: float) -> str:
    """Shortest round-trip text of a number (``0.25``, ``1.0``, ``1e-05``)."""
    return repr(float(value))


def _float(value: Any) -> float:
    return float(value)


# ---------------------------------------------------------------------------- entries
@dataclass(frozen=True)
class DatasetEntry:
    """One data set: ``key`` = content key of (name, options, seed); ``root`` its folder."""

    key: str
    name: str
    root: str
    options: dict[str, Any]
    seed: int | None
    download: bool

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "options": self.options, "seed": self.seed}


@dataclass(frozen=True)
class ModelEntry:
    """One base classifier. ``train_config`` is the complete config of ``randsmooth train``
    (None for an imported ``checkpoint``)."""

    key: str
    dataset: DatasetEntry
    arch: str | None
    method: dict[str, Any]
    noise: str
    noise_params: dict[str, Any]
    sigma: float
    train_config: dict[str, Any] | None
    checkpoint: str | None

    @property
    def trained(self) -> bool:
        return self.checkpoint is None


@dataclass(frozen=True)
class RunEntry:
    """One certification run (the sampling half of CERTIFY; no alpha)."""

    key: str
    model_key: str
    dataset: DatasetEntry
    noise: str
    noise_params: dict[str, Any]
    sigma: float
    n0: int
    n: int
    split: str
    start: int
    stop: int | None
    skip: int
    shards: int
    seed: int
    batch: int
    noise_block: int

    def num_examples(self) -> int | None:
        """Size of the subset, or None when ``stop`` is the (unknown here) split size."""
        return None if self.stop is None else len(range(self.start, self.stop, self.skip))


@dataclass(frozen=True)
class RunAlias:
    """A certification run as named in the config: the sampling run plus its error level."""

    name: str
    run_key: str
    model_name: str
    alpha: float
    two_sided: bool


@dataclass(frozen=True)
class Variant:
    """One metrics computation on one run: alpha, norm, budget, radii, thresholds, cost matrix."""

    key: str
    run_key: str
    alpha: float
    two_sided: bool
    norm: str
    budget: int | None
    radii: tuple[float, ...]
    pa_thresholds: tuple[float, ...]
    cost: dict[str, Any] | None
    cost_key: str | None = None  # key of R/costs/<cost_key>.json for a free-form matrix


@dataclass(frozen=True)
class TableEntry:
    """One row group of a paper table: a run alias evaluated by one variant."""

    paper: str
    table: str
    label: str
    group: str
    run: RunAlias
    variant: Variant


# ---------------------------------------------------------------------------- expansion
class Workflow:
    """A validated config expanded into content-addressed jobs (see the module docstring).

    ``config`` must already be validated (defaults filled in) by :func:`validate_config` or
    Snakemake's ``validate``. Raises ``ValueError`` naming the key of any inconsistency.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = copy.deepcopy(dict(config))
        self.results = self._results_dir(self.config["results"])
        self.data_root = self.config["data_root"]
        self.device = self.config["device"]
        self.threads = int(self.config["threads"])
        self.gpu = dict(self.config.get("gpu") or {})
        self.datasets: dict[str, DatasetEntry] = {}
        self.dataset_names: dict[str, str] = {}
        self.models: dict[str, ModelEntry] = {}
        self.model_names: dict[str, str] = {}
        self.runs: dict[str, RunEntry] = {}
        self.run_aliases: dict[str, RunAlias] = {}
        self.variants: dict[tuple[str, str], Variant] = {}
        self.costs: dict[str, dict[str, Any]] = {}
        self.papers: dict[str, dict[str, Any]] = {}
        self.tables: dict[tuple[str, str], dict[str, Any]] = {}
        self.entries: list[TableEntry] = []
        for name, raw in self.config["datasets"].items():
            self._add_dataset(name, raw)
        for name, raw in self.config["models"].items():
            self._add_model(name, raw)
        for name, raw in self.config["certify"].items():
            self._add_run(name, raw)
        for name, raw in self.config["papers"].items():
            self._add_paper(name, raw)

    # ------------------------------------------------------------------ sections
    @staticmethod
    def _results_dir(value: str) -> str:
        if "{" in value or "}" in value:
            raise ValueError(f"config key 'results' must not contain braces, got {value!r}")
        text = posixpath.normpath(value.replace(os.sep, "/"))
        return "" if text == "." else text

    def _add_dataset(self, name: str, raw: Mapping[str, Any]) -> None:
        where = f"datasets/{name}"
        root = raw["root"] if raw["root"] is not None else self.data_root
        entry = DatasetEntry(
            key="",
            name=raw["name"],
            root=root,
            options=copy.deepcopy(raw["options"]),
            seed=raw["seed"],
            download=bool(raw["download"]),
        )
        key = content_key([entry.name], entry.identity())
        entry = DatasetEntry(key, entry.name, entry.root, entry.options, entry.seed, entry.download)
        previous = self.datasets.get(key)
        if previous is not None and (previous.root, previous.download) != (entry.root, entry.download):
            other = next(n for n, k in self.dataset_names.items() if k == key)
            raise ValueError(
                f"config key {where!r}: the same data set as 'datasets/{other}' but with a "
                "different root or download setting; use one entry"
            )
        self.datasets[key] = entry
        self.dataset_names[name] = key

    def _lookup(self, names: Mapping[str, str], section: str, name: str, where: str) -> str:
        if name not in names:
            raise ValueError(f"config key {where!r}: unknown {section} entry {name!r}; defined: {sorted(names)}")
        return names[name]

    def _recipe(self, raw: Any, where: str) -> dict[str, Any]:
        if isinstance(raw, str):
            recipes = self.config["recipes"]
            if raw not in recipes:
                raise ValueError(f"config key {where!r}: unknown recipe {raw!r}; defined: {sorted(recipes)}")
            return copy.deepcopy(recipes[raw])
        return copy.deepcopy(raw)

    @staticmethod
    def _schedule(raw: Mapping[str, Any], epochs: int, where: str) -> dict[str, Any]:
        name = raw["name"]
        allowed = SCHEDULE_KEYS[name]
        extra = sorted(set(raw) - set(allowed) - {"name"})
        if extra:
            raise ValueError(
                f"config key '{where}/{extra[0]}' does not apply to schedule {name!r} "
                f"(its keys: {sorted(allowed) or 'none'})"
            )
        out: dict[str, Any] = {"name": name}
        for key, default in allowed.items():
            value = raw.get(key, default)
            if value is None and key in ("step_size", "milestones"):
                raise ValueError(f"config key '{where}/{key}' is required for schedule {name!r}")
            out[key] = value
        if name == "multistep" and list(out["milestones"]) != sorted(out["milestones"]):
            raise ValueError(f"config key '{where}/milestones' must be increasing, got {out['milestones']}")
        if name == "cosine" and out["t_max"] is None:
            out["t_max"] = epochs
        for key in ("gamma", "eta_min"):
            if key in out:
                out[key] = _float(out[key])
        return out

    def train_config(
        self, dataset: DatasetEntry, raw: Mapping[str, Any], recipe: Mapping[str, Any], where: str
    ) -> dict[str, Any]:
        """The complete ``randsmooth train`` config of a model (every key, defaults resolved).

        ``dataset.root`` is None (the rule passes the folder via ``RANDSMOOTH_DATA_DIR``) and
        ``download`` False (the prepare_data rule downloads); device and threads are set per job.
        """
        opt = recipe["optimizer"]
        return {
            "dataset": {
                "name": dataset.name,
                "root": None,
                "options": copy.deepcopy(dataset.options),
                "seed": dataset.seed,
                "augment": recipe["augment"],
                "download": False,
            },
            "model": {"arch": raw["arch"], "params": copy.deepcopy(raw["arch_params"])},
            "noise": {
                "name": raw["noise"],
                "sigma": _float(raw["sigma"]),
                "params": copy.deepcopy(raw["noise_params"]),
            },
            "method": {"name": raw["method"]["name"], "params": copy.deepcopy(raw["method"]["params"])},
            "epochs": recipe["epochs"],
            "batch_size": recipe["batch_size"],
            "test_batch_size": recipe["test_batch_size"]
            if recipe["test_batch_size"] is not None
            else recipe["batch_size"],
            "num_noise": recipe["num_noise"],
            "optimizer": {
                "name": opt["name"],
                "lr": _float(opt["lr"]),
                "momentum": _float(opt["momentum"]),
                "weight_decay": _float(opt["weight_decay"]),
                "nesterov": opt["nesterov"],
            },
            "schedule": self._schedule(recipe["schedule"], recipe["epochs"], f"{where}/schedule"),
            "seed": recipe["seed"],
            "device": "auto",
            "workers": recipe["workers"],
            "threads": None,
            "amp": recipe["amp"],
            "eval_examples": recipe["eval_examples"],
        }

    def _add_model(self, name: str, raw: Mapping[str, Any]) -> None:
        where = f"models/{name}"
        dataset = self.datasets[self._lookup(self.dataset_names, "datasets", raw["dataset"], f"{where}/dataset")]
        sigma = _float(raw["sigma"])
        checkpoint = raw["checkpoint"]
        method = {"name": raw["method"]["name"], "params": copy.deepcopy(raw["method"].get("params", {}))}
        if checkpoint is not None:
            if raw.get("recipe") is not None:
                raise ValueError(
                    f"config key '{where}/recipe': a model with a checkpoint is not trained; "
                    "remove recipe or checkpoint"
                )
            identity = {"checkpoint": checkpoint, "arch": raw.get("arch"), "dataset": dataset.key}
            key = content_key(["import", dataset.name, raw.get("arch"), Path(checkpoint).stem], identity)
            entry = ModelEntry(
                key,
                dataset,
                raw.get("arch"),
                method,
                raw["noise"],
                copy.deepcopy(raw["noise_params"]),
                sigma,
                None,
                checkpoint,
            )
        else:
            for needed in ("arch", "recipe"):
                if raw.get(needed) is None:
                    raise ValueError(
                        f"config key '{where}/{needed}' is required for a trained model (or give a checkpoint)"
                    )
            recipe = self._recipe(raw["recipe"], f"{where}/recipe")
            cfg = self.train_config(dataset, raw, recipe, f"{where}/recipe")
            identity = {k: v for k, v in cfg.items() if k not in RUNTIME_TRAIN_KEYS}
            readable = [dataset.name, raw["arch"], method["name"], raw["noise"], format_number(sigma)]
            key = content_key(readable, identity)
            entry = ModelEntry(
                key, dataset, raw["arch"], method, raw["noise"], copy.deepcopy(raw["noise_params"]), sigma, cfg, None
            )
        self.models[key] = entry
        self.model_names[name] = key

    def _add_run(self, name: str, raw: Mapping[str, Any]) -> None:
        where = f"certify/{name}"
        model = self.models[self._lookup(self.model_names, "models", raw["model"], f"{where}/model")]
        noise = raw["noise"] if raw["noise"] is not None else model.noise
        if raw["noise_params"] is not None:
            noise_params = copy.deepcopy(raw["noise_params"])
        else:
            noise_params = copy.deepcopy(model.noise_params) if noise == model.noise else {}
        sigma = raw["sigma"] if raw["sigma"] is not None else model.sigma
        if not sigma > 0:
            raise ValueError(
                f"config key '{where}/sigma': model {raw['model']!r} was trained without noise; "
                "set a certification sigma > 0"
            )
        ex = raw["examples"]
        if ex["stop"] is not None and ex["stop"] <= ex["start"]:
            raise ValueError(f"config key '{where}/examples/stop' must be > start ({ex['start']}), got {ex['stop']}")
        count = None if ex["stop"] is None else len(range(ex["start"], ex["stop"], ex["skip"]))
        shards = self._shards(raw, count, where)
        run = RunEntry(
            key="",
            model_key=model.key,
            dataset=model.dataset,
            noise=noise,
            noise_params=noise_params,
            sigma=_float(sigma),
            n0=raw["n0"],
            n=raw["n"],
            split=ex["split"],
            start=ex["start"],
            stop=ex["stop"],
            skip=ex["skip"],
            shards=shards,
            seed=raw["seed"],
            batch=raw["batch"],
            noise_block=raw["noise_block"],
        )
        identity = {k: v for k, v in vars(run).items() if k not in ("key", "batch", "dataset")}
        identity["dataset"] = run.dataset.key
        key = content_key([noise, format_number(run.sigma), f"n{run.n}", run.split], identity)
        run = RunEntry(key, **{k: v for k, v in vars(run).items() if k != "key"})
        previous = self.runs.get(key)
        if previous is not None and previous.batch != run.batch:
            raise ValueError(
                f"config key '{where}/batch': this run samples the same counts as another entry "
                f"with batch {previous.batch}; use one batch size"
            )
        self.runs[key] = run
        self.run_aliases[name] = RunAlias(name, key, raw["model"], _float(raw["alpha"]), bool(raw["two_sided"]))

    @staticmethod
    def _shards(raw: Mapping[str, Any], count: int | None, where: str) -> int:
        if raw["shards"] is not None and raw["shard_size"] is not None:
            raise ValueError(f"config key '{where}/shard_size': give shards or shard_size, not both")
        if raw["shard_size"] is not None:
            if count is None:
                raise ValueError(
                    f"config key '{where}/shard_size' needs examples/stop (the subset size); or give shards"
                )
            shards = math.ceil(count / raw["shard_size"])
        else:
            shards = raw["shards"] if raw["shards"] is not None else 1
        if count is not None and shards > count:
            raise ValueError(f"config key '{where}/shards': {shards} shards for only {count} examples")
        return shards

    def _add_paper(self, paper: str, raw: Mapping[str, Any]) -> None:
        if not raw["enabled"]:
            return
        self.papers[paper] = {"title": raw.get("title", paper), "tables": list(raw["tables"])}
        for table, spec in raw["tables"].items():
            where = f"papers/{paper}/tables/{table}"
            self.tables[(paper, table)] = {
                "description": spec.get("description", ""),
                "norm": spec["norm"],
                "radii": [_float(r) for r in spec["radii"]],
                "envelope": bool(spec["envelope"]),
            }
            costs: list[dict[str, Any] | None] = [dict(c) for c in spec["costs"]] or [None]
            for i, cost in enumerate(costs):
                if cost is not None:
                    self._check_cost(cost, f"{where}/costs/{i}")
                    cost.setdefault("name", cost.get("preset") or f"cost{i}")
            for run_name in spec["runs"]:
                self._lookup({n: n for n in self.run_aliases}, "certify", run_name, f"{where}/runs")
                alias = self.run_aliases[run_name]
                run = self.runs[alias.run_key]
                for budget in spec["budgets"]:
                    self._check_budget(budget, run, run_name, f"{where}/budgets")
                    for cost in costs:
                        variant = self._variant(alias, spec, budget, cost)
                        label = self._label(run_name, run, budget, cost, spec)
                        model = self.models[run.model_key]
                        group = (
                            run.noise if model.method["name"] == "gaussian" else f"{run.noise}+{model.method['name']}"
                        )
                        self.entries.append(TableEntry(paper, table, label, group, alias, variant))

    @staticmethod
    def cost_matrix_config(cost: Mapping[str, Any]) -> dict[str, Any]:
        """The matrix part of a cost entry (what randsmooth.costs.from_config reads)."""
        return {k: copy.deepcopy(v) for k, v in cost.items() if k in MATRIX_KEYS}

    def _check_cost(self, cost: Mapping[str, Any], where: str) -> None:
        from .costs import from_config

        forms = [k for k in ("preset", "pairs", "matrix") if k in cost]
        if len(forms) != 1:
            raise ValueError(
                f"config key {where!r}: give exactly one of preset (with dataset), pairs (with "
                f"num_classes) or matrix, got {forms or 'none'}"
            )
        if "preset" not in cost and "dataset" in cost:
            raise ValueError(f"config key '{where}/dataset' only applies to a preset")
        try:
            from_config(self.cost_matrix_config(cost))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"config key {where!r}: {exc}") from None

    @staticmethod
    def _check_budget(budget: int | None, run: RunEntry, run_name: str, where: str) -> None:
        if budget is None:
            return
        from .results import default_prefix_budgets

        allowed = default_prefix_budgets(run.n)
        if budget not in allowed:
            raise ValueError(
                f"config key {where!r}: budget {budget} is not a recorded prefix budget of run "
                f"{run_name!r} (n = {run.n}): use one of {list(allowed)} or null"
            )

    def _variant(
        self, alias: RunAlias, spec: Mapping[str, Any], budget: int | None, cost: Mapping[str, Any] | None
    ) -> Variant:
        fields = {
            "alpha": alias.alpha,
            "two_sided": alias.two_sided,
            "norm": spec["norm"],
            "budget": budget,
            "radii": tuple(_float(r) for r in spec["radii"]),
            "pa_thresholds": tuple(_float(t) for t in spec["pa_thresholds"]),
            "cost": None if cost is None else dict(cost),
        }
        readable = [
            fields["norm"],
            f"a{format_number(alias.alpha)}",
            "2s" if alias.two_sided else None,
            f"b{budget}" if budget is not None else None,
            cost["name"] if cost else None,
        ]
        key = content_key(readable, {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()})
        cost_key = None
        if cost is not None and "preset" not in cost:
            matrix = self.cost_matrix_config(cost)
            cost_key = content_key(["cost", cost["name"]], matrix)
            self.costs[cost_key] = matrix
        variant = Variant(key=key, run_key=alias.run_key, cost_key=cost_key, **fields)
        self.variants[(alias.run_key, key)] = variant
        return variant

    @staticmethod
    def _label(
        run_name: str, run: RunEntry, budget: int | None, cost: Mapping[str, Any] | None, spec: Mapping[str, Any]
    ) -> str:
        label = run_name
        if len(spec["budgets"]) > 1:
            label += f" n'={budget if budget is not None else run.n}"
        if cost is not None and len(spec["costs"]) > 1:
            label += f" [{cost['name']}]"
        return label

    # ------------------------------------------------------------------ paths
    def path(self, kind: str, **wildcards: Any) -> str:
        """Concrete path of ``kind`` (a key of :data:`PATTERNS`) for the given wildcard values."""
        return self.pattern(kind).format(**wildcards)

    def pattern(self, kind: str) -> str:
        """The rule pattern of ``kind`` with the results folder in front (wildcards in braces)."""
        return posixpath.join(self.results, PATTERNS[kind]) if self.results else PATTERNS[kind]

    def log_path(self, rule: str, name: str) -> str:
        return posixpath.join(self.results, "logs", rule, name) if self.results else f"logs/{rule}/{name}"

    def benchmark_path(self, rule: str, name: str) -> str:
        base = posixpath.join(self.results, "benchmarks") if self.results else "benchmarks"
        return posixpath.join(base, rule, name)

    def model(self, key: str) -> ModelEntry:
        if key not in self.models:
            raise ValueError(f"no model with key {key!r} in this config")
        return self.models[key]

    def run(self, key: str) -> RunEntry:
        if key not in self.runs:
            raise ValueError(f"no certification run with key {key!r} in this config")
        return self.runs[key]

    def variant(self, run_key: str, variant_key: str) -> Variant:
        if (run_key, variant_key) not in self.variants:
            raise ValueError(f"no metrics variant {variant_key!r} of run {run_key!r} in this config")
        return self.variants[(run_key, variant_key)]

    def dataset(self, key: str) -> DatasetEntry:
        if key not in self.datasets:
            raise ValueError(f"no data set with key {key!r} in this config")
        return self.datasets[key]

    def checkpoint_path(self, model_key: str) -> str:
        """The weights a run certifies: the trained final.pt or the imported checkpoint."""
        model = self.model(model_key)
        return model.checkpoint if model.checkpoint is not None else self.path("final", model=model_key)

    def dataset_manifest(self, dataset_key: str) -> str:
        return self.path("dataset", dataset=self.dataset(dataset_key).key)

    def shard_paths(self, run_key: str) -> list[str]:
        return [self.path("shard", run=run_key, shard=k) for k in range(self.run(run_key).shards)]

    def metrics_paths(self, entries: Iterable[TableEntry]) -> list[str]:
        """Metrics CSVs of ``entries`` (duplicates removed, order kept)."""
        paths = [self.path("metrics_csv", run=e.variant.run_key, variant=e.variant.key) for e in entries]
        return list(dict.fromkeys(paths))

    # ------------------------------------------------------------------ targets
    def used_runs(self) -> list[str]:
        """Run keys reachable from the enabled papers (sorted)."""
        return sorted({e.variant.run_key for e in self.entries})

    def used_models(self) -> list[str]:
        return sorted({self.runs[r].model_key for r in self.used_runs()})

    def used_datasets(self) -> list[str]:
        return sorted({self.models[m].dataset.key for m in self.used_models()})

    def train_targets(self) -> list[str]:
        return [self.path("final", model=m) for m in self.used_models() if self.models[m].trained]

    def certify_targets(self) -> list[str]:
        return [self.path("counts", run=r) for r in self.used_runs()]

    def metrics_targets(self) -> list[str]:
        return self.metrics_paths(self.entries)

    def summary_targets(self) -> list[str]:
        out = [self.path(k, paper=p) for p in self.papers for k in ("paper_csv", "paper_md")]
        if self.papers:
            out += [self.path("summary_csv"), self.path("summary_md")]
        return out

    def final_targets(self) -> list[str]:
        """Every final artifact: per-run metrics, per-paper summaries and the overall summary."""
        return self.metrics_targets() + self.summary_targets()

    def paper_entries(self, paper: str | None = None) -> list[TableEntry]:
        if paper is not None and paper not in self.papers:
            raise ValueError(f"no enabled paper {paper!r} in this config; enabled: {sorted(self.papers)}")
        return [e for e in self.entries if paper is None or e.paper == paper]

    # ------------------------------------------------------------------ rule arguments
    @staticmethod
    def quote(args: Iterable[Any]) -> str:
        """``shlex``-quoted command-line words (safe to paste into a shell command)."""
        return " ".join(shlex.quote(str(a)) for a in args)

    def recipe_json(self, model_key: str) -> str:
        """The model's training config as canonical JSON (the content of recipe.json)."""
        model = self.model(model_key)
        if model.train_config is None:
            raise ValueError(f"model {model_key!r} is imported from {model.checkpoint!r}, not trained")
        return canonical_json(model.train_config)

    def prepare_args(self, dataset_key: str) -> str:
        ds = self.dataset(dataset_key)
        args: list[Any] = ["--name", ds.name, "--root", ds.root]
        for key, value in sorted(ds.options.items()):
            args += ["--option", f"{key}={canonical_json(value)}"]
        if ds.seed is not None:
            args += ["--seed", ds.seed]
        if ds.download:
            args.append("--download")
        return self.quote(args)

    def certify_args(self, run_key: str, shard: int | str) -> str:
        """Arguments of ``python -m randsmooth certify`` for one shard (without --out/--num-threads)."""
        run = self.run(run_key)
        shard = int(shard)
        if not 0 <= shard < run.shards:
            raise ValueError(f"shard {shard} of run {run_key!r} does not exist (it has {run.shards} shards)")
        model = self.model(run.model_key)
        ds = run.dataset
        args: list[Any] = ["--checkpoint", self.checkpoint_path(model.key)]
        if model.checkpoint is not None and model.arch is not None:
            args += ["--arch", model.arch]
        args += ["--dataset", ds.name, "--data-root", ds.root]
        for key, value in sorted(ds.options.items()):
            args += ["--dataset-option", f"{key}={canonical_json(value)}"]
        if ds.seed is not None:
            args += ["--dataset-option", f"seed={ds.seed}"]
        args += ["--split", run.split, "--noise", run.noise]
        for key, value in sorted(run.noise_params.items()):
            args += ["--noise-param", f"{key}={canonical_json(value)}"]
        args += [
            "--sigma",
            format_number(run.sigma),
            "--n0",
            run.n0,
            "--n",
            run.n,
            "--batch",
            run.batch,
            "--noise-block",
            run.noise_block,
            "--start",
            run.start,
        ]
        if run.stop is not None:
            args += ["--stop", run.stop]
        args += [
            "--skip",
            run.skip,
            "--shard",
            shard,
            "--num-shards",
            run.shards,
            "--seed",
            run.seed,
            "--device",
            self.device,
            "--no-progress",
        ]
        return self.quote(args)

    def merge_args(self, run_key: str) -> str:
        """Coverage checks of ``python -m randsmooth merge`` (the declared subset, when known)."""
        run = self.run(run_key)
        if run.stop is None:
            return ""
        return self.quote(
            ["--start", run.start, "--stop", run.stop, "--skip", run.skip, "--expect-count", run.num_examples()]
        )

    def metrics_args(self, run_key: str, variant_key: str) -> str:
        """Arguments of ``python -m randsmooth metrics`` (without --table and outputs)."""
        v = self.variant(run_key, variant_key)
        args: list[Any] = ["--alpha", format_number(v.alpha), "--norm", v.norm]
        if v.two_sided:
            args.append("--two-sided")
        if v.budget is not None:
            args += ["--budget", v.budget]
        args += [
            "--radii",
            ",".join(format_number(r) for r in v.radii),
            "--pa-thresholds",
            ",".join(format_number(t) for t in v.pa_thresholds),
        ]
        if v.cost is not None:
            if v.cost_key is None:
                args += ["--cost-preset", v.cost["preset"], "--cost-dataset", v.cost["dataset"]]
            else:
                args += ["--cost-config", self.path("cost", cost=v.cost_key)]
            args += ["--cs-mode", v.cost["cs_mode"], "--positive-class", v.cost["positive_class"]]
            if v.cost["legacy_alpha"]:
                args.append("--legacy-alpha")
        return self.quote(args)

    def metrics_inputs(self, run_key: str, variant_key: str) -> dict[str, str]:
        """Inputs of one metrics job: the merged counts, and the cost matrix file if any."""
        v = self.variant(run_key, variant_key)
        inputs = {"table": self.path("counts", run=run_key)}
        if v.cost_key is not None:
            inputs["cost"] = self.path("cost", cost=v.cost_key)
        return inputs

    def cost_json(self, cost_key: str) -> str:
        """Canonical JSON of a free-form cost matrix (the content of R/costs/<cost_key>.json)."""
        if cost_key not in self.costs:
            raise ValueError(f"no cost matrix {cost_key!r} in this config")
        return canonical_json(self.costs[cost_key])

    def lease_prefix(self, python: str = "python") -> str:
        """``<python> -m randsmooth gpu-lease ... -- `` for GPU jobs ("" when device is cpu).

        ``python`` is inserted as given (already quoted by the caller if needed).
        """
        if self.device == "cpu":
            return ""
        args: list[Any] = []
        if self.gpu.get("lock_dir"):
            args += ["--lock-dir", self.gpu["lock_dir"]]
        if self.gpu.get("devices") is not None:
            args += ["--devices", ",".join(str(d) for d in self.gpu["devices"])]
        if self.gpu.get("wait_timeout") is not None:
            args += ["--timeout", format_number(self.gpu["wait_timeout"])]
        quoted = self.quote(args)
        return f"{python} -m randsmooth gpu-lease {quoted}{' ' if quoted else ''}-- "

    def summary_spec(self, paper: str | None = None) -> str:
        """JSON spec of ``summary`` for one paper (or every enabled paper)."""
        entries = []
        for e in self.paper_entries(paper):
            run = self.runs[e.variant.run_key]
            model = self.models[run.model_key]
            entries.append(
                {
                    "paper": e.paper,
                    "table": e.table,
                    "label": e.label,
                    "group": e.group,
                    "run": e.run.name,
                    "model": e.run.model_name,
                    "dataset": run.dataset.name,
                    "arch": model.arch,
                    "method": model.method["name"],
                    "train_noise": model.noise,
                    "train_sigma": model.sigma,
                    "noise": run.noise,
                    "sigma": run.sigma,
                    "n0": run.n0,
                    "n": run.n,
                    "examples": f"{run.split}[{run.start}:{'' if run.stop is None else run.stop}:{run.skip}]",
                    "alpha": e.variant.alpha,
                    "two_sided": e.variant.two_sided,
                    "norm": e.variant.norm,
                    "budget": e.variant.budget,
                    "cost": None if e.variant.cost is None else e.variant.cost["name"],
                    "run_dir": posixpath.dirname(self.path("counts", run=run.key)),
                    "path": self.path("metrics_csv", run=run.key, variant=e.variant.key),
                }
            )
        tables = [
            {"paper": p, "table": t, "title": self.papers[p]["title"], **spec}
            for (p, t), spec in self.tables.items()
            if paper is None or p == paper
        ]
        return canonical_json({"entries": entries, "tables": tables})

    def describe(self) -> list[dict[str, str]]:
        """Name -> folder of every data set, model and run of the config (for people)."""
        rows = [
            {"kind": "dataset", "name": n, "key": k, "path": self.path("dataset", dataset=k)}
            for n, k in self.dataset_names.items()
        ]
        rows += [
            {"kind": "model", "name": n, "key": k, "path": self.checkpoint_path(k)} for n, k in self.model_names.items()
        ]
        rows += [
            {"kind": "run", "name": a.name, "key": a.run_key, "path": self.path("counts", run=a.run_key)}
            for a in self.run_aliases.values()
        ]
        rows += [
            {
                "kind": "metrics",
                "name": f"{e.paper}/{e.table}/{e.label}",
                "key": e.variant.key,
                "path": self.path("metrics_csv", run=e.variant.run_key, variant=e.variant.key),
            }
            for e in self.entries
        ]
        return rows


# ------------------------------------------------------------------- prepare-data
def prepare_dataset(
    name: str, root: str, options: Mapping[str, Any], seed: int | None, download: bool
) -> dict[str, Any]:
    """Check (and download, if allowed) both splits of a data set; return a description.

    Raises the data module's clear errors (missing folder, checksum mismatch, ...).
    """
    from . import __version__
    from .data import dataset_spec, load_dataset

    spec_options = dict(options)
    if seed is not None:
        spec_options["seed"] = seed
    spec = dataset_spec(name, **spec_options)
    sizes = {}
    for split in ("train", "test"):
        data = load_dataset(name, split, root, augment=False, download=download, seed=seed, **options)
        sizes[split] = len(data)
    return {
        "dataset": name,
        "options": dict(options),
        "seed": seed,
        "root": root,
        "sizes": sizes,
        "num_classes": spec.num_classes,
        "input_shape": list(spec.input_shape),
        "dim": spec.dim,
        "randsmooth_version": __version__,
    }


# ------------------------------------------------------------------------ summary
SCALAR_ORDER = ("n_rows", "clean_accuracy", "acr", "abstain_rate")


def summary_table(spec: Mapping[str, Any]) -> Any:
    """Long table (one row per entry and metric) from a :meth:`Workflow.summary_spec` spec."""
    import pandas as pd

    frames = []
    for entry in spec["entries"]:
        path = entry["path"]
        try:
            metrics = pd.read_csv(path)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: cannot read metrics table ({exc})") from None
        if list(metrics.columns) != ["metric", "param", "value"]:
            raise ValueError(f"{path}: expected columns metric, param, value, got {list(metrics.columns)}")
        meta = {k: v for k, v in entry.items() if k != "path"}
        frame = metrics.assign(**{k: [v] * len(metrics) for k, v in meta.items()}, metrics_file=path)
        frames.append(frame)
    if not frames:
        raise ValueError("summary spec has no entries")
    meta_cols = [k for k in spec["entries"][0] if k != "path"]
    table = pd.concat(frames, ignore_index=True)
    return table[meta_cols + ["metric", "param", "value", "metrics_file"]]


COUNT_METRICS = ("n_rows", "budget")


def _md_table(frame: Any, index_name: str, digits: int = 4) -> str:
    """A plain Markdown table of a DataFrame (index as first column, floats rounded, counts as ints)."""

    def cell(value: Any, column: str = "") -> str:
        if isinstance(value, float):
            if math.isnan(value):
                return ""
            if column in COUNT_METRICS and value.is_integer():
                return str(int(value))
            return f"{value:.{digits}f}"
        return str(value).replace("|", "\\|")

    columns = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join([index_name] + columns) + " |", "| " + " | ".join(["---"] * (len(columns) + 1)) + " |"]
    for idx, row in frame.iterrows():
        lines.append(
            "| " + " | ".join([cell(idx)] + [cell(v, c) for v, c in zip(row.tolist(), columns, strict=True)]) + " |"
        )
    return "\n".join(lines)


def _param_label(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def summary_markdown(table: Any, spec: Mapping[str, Any]) -> str:
    """Markdown report: per paper table, certified accuracy, scalars and the other metrics."""

    from .metrics import markdown_cohen_string

    lines = ["# Summary", ""]
    for info in spec["tables"]:
        rows = table[(table["paper"] == info["paper"]) & (table["table"] == info["table"])]
        if rows.empty:
            continue
        lines += [f"## {info['paper']} / {info['table']}", ""]
        if info.get("description"):
            lines += [info["description"].strip(), ""]
        first = rows.iloc[0]
        lines += [
            (
                f"norm {info['norm']}, alpha {first['alpha']:g} "
                f"({'two' if first['two_sided'] else 'one'}-sided); rows = runs as named in the config"
            ),
            "",
        ]
        labels = list(dict.fromkeys(rows["label"]))
        ca = rows[rows["metric"] == "certified_accuracy"]
        if not ca.empty:
            pivot = ca.pivot_table(index="label", columns="param", values="value", aggfunc="first")
            pivot = pivot.reindex(labels)
            lines += ["### Certified accuracy", "", markdown_cohen_string(pivot).rstrip("\n"), ""]
            if info.get("envelope"):
                groups = rows.drop_duplicates("label").set_index("label")["group"]
                env = pivot.groupby(groups.reindex(pivot.index).to_numpy()).max()
                lines += ["### Envelope (best over the runs of each group)", "", _md_table(env, "group"), ""]
        scalars = rows[rows["param"].isna()]
        if not scalars.empty:
            pivot = scalars.pivot_table(index="label", columns="metric", values="value", aggfunc="first")
            order = [c for c in SCALAR_ORDER if c in pivot.columns] + sorted(
                c for c in pivot.columns if c not in SCALAR_ORDER and c != "alpha"
            )
            lines += ["### Scalar metrics", "", _md_table(pivot.reindex(labels)[order], "run"), ""]
        others = rows[rows["param"].notna() & (rows["metric"] != "certified_accuracy")]
        for metric in dict.fromkeys(others["metric"]):
            sub = others[others["metric"] == metric]
            pivot = sub.pivot_table(index="label", columns="param", values="value", aggfunc="first")
            pivot.columns = [_param_label(c) for c in pivot.columns]
            lines += [
                f"### {metric}",
                "",
                _md_table(pivot.reindex([name for name in labels if name in pivot.index]), "run"),
                "",
            ]
    return "\n".join(lines).rstrip("\n") + "\n"


def write_summary(spec: Mapping[str, Any], out_csv: str, out_md: str) -> None:
    """Combine the metrics tables listed in ``spec`` into a long CSV and a Markdown report."""
    table = summary_table(spec)
    atomic_write_text(out_csv, table.to_csv(index=False))
    atomic_write_text(out_md, summary_markdown(table, spec))


# ------------------------------------------------------------------------------ CLI
def _key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m randsmooth.workflow_config",
        description="Helpers of the Snakemake workflow (see module docstring).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare-data", help="check/download a data set and record its sizes")
    prep.add_argument("--name", required=True)
    prep.add_argument("--root", required=True)
    prep.add_argument("--option", type=_key_value, action="append", default=[], metavar="KEY=JSON")
    prep.add_argument("--seed", type=int, default=None)
    prep.add_argument("--download", action="store_true")
    prep.add_argument("--out", required=True, help="JSON record to write")
    summ = sub.add_parser("summary", help="combine metrics tables into a summary")
    summ.add_argument("--spec", required=True, help="JSON spec (Workflow.summary_spec) or @file")
    summ.add_argument("--out-csv", required=True)
    summ.add_argument("--out-md", required=True)
    desc = sub.add_parser("describe", help="print config names -> content-addressed paths")
    desc.add_argument("--config", required=True)
    desc.add_argument("--schema", default="config/schema.yaml")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 with a one-line error on bad input)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        if args.command == "prepare-data":
            record = prepare_dataset(args.name, args.root, dict(args.option), args.seed, args.download)
            atomic_write_text(args.out, json.dumps(record, indent=2, sort_keys=True) + "\n")
            log.info("%s: train %d / test %d examples", args.name, record["sizes"]["train"], record["sizes"]["test"])
        elif args.command == "summary":
            text = Path(args.spec[1:]).read_text(encoding="utf-8") if args.spec.startswith("@") else args.spec
            write_summary(json.loads(text), args.out_csv, args.out_md)
            log.info("wrote %s and %s", args.out_csv, args.out_md)
        else:
            wf = Workflow(load_config(args.config, args.schema))
            print("kind\tname\tkey\tpath")
            for row in wf.describe():
                print("\t".join(row[k] for k in ("kind", "name", "key", "path")))
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
