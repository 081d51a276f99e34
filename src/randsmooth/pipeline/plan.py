"""A validated workflow config expanded into content-addressed data sets, models, runs and metrics.

:class:`Plan` reads the sections of a config (``datasets``, ``recipes``, ``models``, ``certify``,
``papers``, expanded by :mod:`.papers`) and checks everything a job would otherwise only find out
when it runs: references between sections, training recipes and method hyper-parameters (:mod:`randsmooth.train_config`,
:mod:`randsmooth.losses`), noise parameters (:mod:`randsmooth.sampling`), example subsets against
the split sizes, shard counts, prefix budgets, cluster resources. Errors name the config key.

Every entry is content-addressed (:mod:`.keys`): models by their resolved training config, runs by
their sampling settings (no alpha: sampling does not use it), metrics variants by alpha, norm,
budget, radii, thresholds and cost matrix. The paper tables say how the counts are read.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..counts.spec import RunSpec
from . import config
from .checks import (
    MATRIX_KEYS,
    check,
    check_method,
    check_noise,
    data_module,
    get,
    lookup,
    named_cost,
    results_dir,
    shard_count,
    subset_size,
)
from .entries import DatasetEntry, ModelEntry, RunEntry, TableEntry, Variant
from .identity import model_key, run_key
from .keys import content_key
from .memory import fit_training
from .papers import Sources, expand_paper
from .recipes import model_train_config, soft_targets
from .resources import check_resources
from .sequential import run_settings


@dataclass
class Plan:
    """A validated config (defaults filled in, see :mod:`.config`) expanded into its entries."""

    config: Mapping[str, Any]
    datasets: dict[str, DatasetEntry] = field(default_factory=dict)
    dataset_names: dict[str, str] = field(default_factory=dict)
    models: dict[str, ModelEntry] = field(default_factory=dict)
    model_names: dict[str, str] = field(default_factory=dict)
    runs: dict[str, RunEntry] = field(default_factory=dict)
    run_names: dict[str, str] = field(default_factory=dict)
    variants: dict[tuple[str, str], Variant] = field(default_factory=dict)
    papers: dict[str, dict[str, Any]] = field(default_factory=dict)
    tables: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    entries: list[TableEntry] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.config = copy.deepcopy(dict(self.config))
        self.results = results_dir(self.config["results"])
        self.device = self.config["device"]
        self.threads = int(self.config["threads"])
        self.gpu = dict(self.config.get("gpu") or {})
        for name, raw in self.config["datasets"].items():
            self._add_dataset(name, raw)
        self.costs = {name: named_cost(name, raw) for name, raw in self.config["costs"].items()}
        for name in self.config["models"]:
            self._add_model(name)
        for name, raw in self.config["certify"].items():
            self._add_run(name, raw)
        sources = Sources(self.costs, self.runs, self.run_names, self.models, self.config["certify"])
        for name, raw in self.config["papers"].items():
            paper = expand_paper(name, raw, sources)
            if paper is not None:
                self.papers[name] = paper.info
                self.tables.update(paper.tables)
                self.entries += paper.entries
                self.variants.update(paper.variants)
        check_resources(self)

    # ------------------------------------------------------------------ lookups
    def model(self, key: str) -> ModelEntry:
        return get(self.models, key, "model")

    def run(self, key: str) -> RunEntry:
        return get(self.runs, key, "certification run")

    def variant(self, run_key: str, variant_key: str) -> Variant:
        return get(self.variants, (run_key, variant_key), "metrics variant")

    def paper_entries(self, paper: str | None = None) -> list[TableEntry]:
        if paper is not None and paper not in self.papers:
            raise ValueError(f"no enabled paper {paper!r} in this config; enabled: {sorted(self.papers)}")
        return [e for e in self.entries if paper is None or e.paper == paper]

    def used_runs(self) -> list[str]:
        """Run keys reachable from the enabled papers (sorted)."""
        return sorted({e.variant.run_key for e in self.entries})

    def used_models(self) -> list[str]:
        """Models certified by the enabled papers, and the teachers and pre-trained models they were
        trained from (sorted)."""
        todo = [self.runs[r].model_key for r in self.used_runs()]
        used: set[str] = set()
        while todo:
            key = todo.pop()
            if key not in used:
                used.add(key)
                model = self.models[key]
                todo += [model.soft_targets.teacher_key] if model.soft_targets is not None else []
                todo += [model.pretrained] if model.pretrained is not None else []
        return sorted(used)

    # ------------------------------------------------------------------ data sets
    def _add_dataset(self, name: str, raw: Mapping[str, Any]) -> None:
        where = f"datasets/{name}"
        root = raw["root"] if raw["root"] is not None else self.config["data_root"]
        entry = DatasetEntry(
            "",
            raw["name"],
            str(Path(root).expanduser()),
            copy.deepcopy(raw["options"]),
            raw["seed"],
            bool(raw["download"]),
        )
        check(lambda: data_module().dataset_spec(entry.name, **entry.loader_options()), f"{where}/options")
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

    # ------------------------------------------------------------------ models
    def _add_model(self, name: str, pending: tuple[str, ...] = ()) -> str:
        """Add model ``name`` (after its teacher, if it has one); return its key."""
        if name in self.model_names:
            return self.model_names[name]
        raw, where = self.config["models"][name], f"models/{name}"
        start = raw["pretrained"]  # the model whose network this one starts from (or None)
        pretrained = start and self._dependency(start, "pre-training", f"{where}/pretrained", (*pending, name))
        dataset = self.datasets[lookup(self.dataset_names, "datasets", raw["dataset"], f"{where}/dataset")]
        method = self._method(raw["method"], f"{where}/method", (*pending, name))
        soft = None
        sigma = float(raw["sigma"])
        noise_params = copy.deepcopy(raw["noise_params"])
        if sigma > 0:
            check_noise(raw["noise"], sigma, noise_params, dataset, f"{where}/noise_params")
        if raw["checkpoint"] is not None:
            for key in ("recipe", "pretrained"):
                if raw.get(key) is not None:
                    raise ValueError(f"config key '{where}/{key}': a model with a checkpoint is not trained")
            checkpoint = str(Path(raw["checkpoint"]).expanduser())
            identity = {"checkpoint": checkpoint, "arch": raw.get("arch"), "dataset": dataset.key}
            key = content_key(["import", dataset.name, raw.get("arch"), Path(checkpoint).stem], identity)
            cfg = None
        else:
            for needed in ("arch", "recipe"):
                if raw.get(needed) is None:
                    raise ValueError(
                        f"config key '{where}/{needed}' is required for a trained model (or give a checkpoint)"
                    )
            cfg = model_train_config(self.config["recipes"], dataset, {**raw, "method": method}, where)
            loss = check_method(method, cfg, dataset, f"{where}/method")
            cfg = fit_training(self.config["resources"], cfg, dataset, loss.held_passes, f"{where}/recipe")
            key = model_key(cfg, pretrained or None)
            checkpoint = None
            if loss.needs_soft_targets:
                soft = soft_targets(loss, method, f"{where}/method/params/teacher")
        fields = (raw.get("arch"), method, raw["noise"], noise_params, sigma, cfg, checkpoint, soft)
        self.models[key] = ModelEntry(key, dataset, *fields, raw["noise_space"], pretrained or None)
        self.model_names[name] = key
        return key

    def _method(self, raw: Mapping[str, Any], where: str, pending: tuple[str, ...]) -> dict[str, Any]:
        """The method with named references resolved: ``cost: <name>`` -> the cost matrix of the
        top-level ``costs`` entry; ``teacher: <model name>`` -> the teacher's key (its identity)."""
        params = copy.deepcopy(raw.get("params", {}))
        if isinstance(params.get("cost"), str):
            cost = lookup(self.costs, "costs", params["cost"], f"{where}/params/cost")
            params["cost"] = {k: v for k, v in cost.items() if k in MATRIX_KEYS}
        if isinstance(params.get("teacher"), str):
            params["teacher"] = self._dependency(params["teacher"], "teacher", f"{where}/params/teacher", pending)
        return {"name": raw["name"], "params": params}

    def _dependency(self, name: str, role: str, where: str, pending: tuple[str, ...]) -> str:
        """Key of model ``name`` (added first), the ``role`` (teacher | pre-training) of the model being
        added (the last of ``pending``), named at config key ``where``."""
        lookup(self.config["models"], "models", name, where)
        if name in pending:
            raise ValueError(f"config key {where!r}: model {name!r} is its own {role}")
        return self._add_model(name, pending)

    # ------------------------------------------------------------------ certification runs
    def _add_run(self, name: str, raw: Mapping[str, Any]) -> None:
        where = f"certify/{name}"
        model = self.models[lookup(self.model_names, "models", raw["model"], f"{where}/model")]
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
        check_noise(noise, float(sigma), noise_params, model.dataset, f"{where}/noise_params")
        ex = raw["examples"]
        count = subset_size(model.dataset, ex, where)
        shards = shard_count(raw, count, ex["stop"] is not None, where)
        sampling = {name: raw[name] for name in ("n0", "n", "seed", "noise_block", "rng", "batch", "fast", "compile")}
        if raw["sequential"] is not None:  # fixed-N runs leave it out of their keys
            seq = run_settings(self.config, name, raw["sequential"], f"{where}/sequential")
            sampling.update(n=seq["max_n"], sequential=seq)
            if raw["rng"] == "block-v1":
                raise ValueError(f"config key '{where}/rng': a sequential run needs philox-v1")
        spec = RunSpec(
            dataset=model.dataset.name,
            dataset_options=model.dataset.loader_options(),
            split=ex["split"],
            start=ex["start"],
            stop=ex["stop"],
            skip=ex["skip"],
            num_shards=shards,
            noise=noise,
            noise_params=noise_params,
            sigma=float(sigma),
            noise_space=model.noise_space,
            model=model.key,
            arch=model.arch if model.checkpoint is not None else None,
            **sampling,
        )
        key = run_key(RunEntry("", model.dataset, spec))
        run = RunEntry(key, model.dataset, spec)
        previous = self.runs.get(key)
        if previous is not None and (previous.batch, previous.fast, previous.compile) != (
            run.batch,
            run.fast,
            run.compile,
        ):
            raise ValueError(
                f"config key '{where}/batch': this run samples the same counts as another entry "
                f"with batch {previous.batch}, fast {previous.fast}, compile {previous.compile}; use one setting"
            )
        self.runs[key] = run
        self.run_names[name] = key


def load_workflow(
    configfiles: Sequence[str | os.PathLike[str]], overrides: Mapping[str, Any], basedir: str | os.PathLike[str]
) -> Plan:
    """The plan of one Snakemake invocation (see :func:`.config.workflow_config`); every error is
    one ``ValueError`` line that starts with the config file(s) read."""
    where = ", ".join(str(f) for f in config.config_files(configfiles, basedir))
    validated = config.workflow_config(configfiles, overrides, basedir)
    try:
        return Plan(validated)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
