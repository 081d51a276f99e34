"""What the rules pass to their commands: small JSON spec files and named arguments.

The spec files are written by tiny rules (``printf`` of the JSON below) and read by the commands:
``recipe.json`` by ``train``, ``run.json`` by ``certify --run``, the variant ``.json`` by
``metrics --spec``, ``tables.json`` by ``summary --spec`` and the paper commands (``paper``,
``paper-readme``, ``published-logs``), ``index.json`` by ``index``. Everything else a rule passes is a
named argument (data folder, batch size, device, ...), so a rule reads on its own.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterable
from typing import Any

from ..papers.catalog import CONVENTIONS, Artifact, scale_text
from .checks import data_module, lookup, subset_size
from .keys import canonical_json, format_number
from .paths import Paths
from .plan import Plan


def quote(args: Iterable[Any]) -> str:
    """``shlex``-quoted command-line words (safe to paste into a shell command)."""
    return " ".join(shlex.quote(str(a)) for a in args)


def recipe_json(plan: Plan, model_key: str) -> str:
    """The content of ``recipe.json``: the model's complete training config (its identity)."""
    model = plan.model(model_key)
    if model.train_config is None:
        raise ValueError(f"model {model_key!r} is imported from {model.checkpoint!r}, not trained")
    return canonical_json(model.train_config)


def run_settings_json(plan: Plan, run_key: str) -> str:
    """The content of ``run.json``: the run's :class:`randsmooth.counts.RunSpec` without the engine's
    settings (``python -m randsmooth certify --run``; the batch size and modes are options)."""
    return canonical_json(plan.run(run_key).spec.file_dict())


def variant_json(plan: Plan, run_key: str, variant_key: str) -> str:
    """The content of a variant's ``.json``: a :class:`randsmooth.evaluate.MetricsSpec`."""
    return canonical_json(plan.variant(run_key, variant_key).spec)


def engine_options(plan: Plan, run_key: str) -> str:
    """``--fast`` / ``--compile`` of ``certify`` (speed only; recorded in the count table)."""
    run = plan.run(run_key)
    return quote([flag for flag, on in (("--fast", run.fast), ("--compile", run.compile)) if on])


def soft_targets_option(plan: Plan, paths: Paths, model_key: str) -> str:
    """``--soft-targets FILE`` for ``train`` when the model's method needs a teacher's soft targets."""
    path = paths.soft_targets_of(plan, model_key)
    return "" if path is None else quote(["--soft-targets", path])


def init_option(plan: Plan, paths: Paths, model_key: str) -> str:
    """``--init FILE`` for ``train`` when the model starts from a pre-trained model's network."""
    path = paths.pretrained_of(plan, model_key)
    return "" if path is None else quote(["--init", path])


def merge_checks(plan: Plan, run_key: str) -> str:
    """Coverage checks of ``python -m randsmooth merge`` (the declared subset, when known)."""
    run = plan.run(run_key)
    if run.stop is None:
        return ""
    return quote(["--start", run.start, "--stop", run.stop, "--skip", run.skip, "--expect-count", run.num_examples()])


def interpreter(executable: str | None = None, prefix: str | None = None) -> str:
    """The Python that runs the jobs: ``<prefix>/bin/python`` when that is the running interpreter
    (``executable``, default ``sys.executable``) under another name, e.g. ``.venv/bin/python3.11``
    for the ``snakemake`` script, so that ``snakemake`` and ``python -m snakemake`` give the rules
    the same ``params`` and switching between them reruns nothing."""
    executable = executable or sys.executable
    canonical = os.path.join(prefix or sys.prefix, "bin", "python")
    try:
        return canonical if os.path.samefile(canonical, executable) else executable
    except OSError:  # no <prefix>/bin/python
        return executable


def lease_prefix(plan: Plan, python: str = "python") -> str:
    """``<python> -m randsmooth gpu-lease ... --`` in front of GPU jobs ("" when the device is cpu).

    ``python`` is inserted as given (already quoted by the caller if needed).
    """
    if plan.device == "cpu":
        return ""
    args: list[Any] = []
    if plan.gpu.get("lock_dir"):
        args += ["--lock-dir", plan.gpu["lock_dir"]]
    if plan.gpu.get("devices") is not None:
        args += ["--devices", ",".join(str(d) for d in plan.gpu["devices"])]
    if plan.gpu.get("wait_timeout") is not None:
        args += ["--timeout", format_number(plan.gpu["wait_timeout"])]
    quoted = quote(args)
    return f"{python} -m randsmooth gpu-lease {quoted}{' ' if quoted else ''}-- "


def run_info(plan: Plan, paths: Paths, run_name: str, dims: dict[str, int]) -> dict[str, Any]:
    """What a paper artifact needs to know about one run of a table (config names, not hashes)."""
    run = plan.run(plan.run_names[run_name])
    model = plan.models[run.model_key]
    if run.dataset.key not in dims:
        spec = data_module().dataset_spec(run.dataset.name, **run.dataset.loader_options())
        dims[run.dataset.key] = int(spec.dim)
    examples = {"split": run.split, "start": run.start, "stop": run.stop, "skip": run.skip}
    sequential = {} if run.sequential is None else {"sequential": run.sequential}  # fixed N: left out
    return {
        "run": run_name,
        "model": plan.config["certify"][run_name]["model"],
        "dataset": run.dataset.name,
        "dim": dims[run.dataset.key],
        "arch": model.arch,
        "method": model.method["name"],
        "method_params": model.method.get("params", {}),
        "train_noise": model.noise,
        "train_sigma": model.sigma,
        "noise": run.noise,
        "noise_params": run.noise_params,
        "sigma": run.sigma,
        "n0": run.n0,
        "n": run.n,
        "examples": f"{run.split}[{run.start}:{'' if run.stop is None else run.stop}:{run.skip}]",
        "num_examples": subset_size(run.dataset, examples, f"certify/{run_name}"),
        "counts": paths.counts.format(run=run.key),
        "run_dir": paths.counts.format(run=run.key).rsplit("/", 1)[0],
        **sequential,
    }


def paper_tables_json(plan: Plan, paths: Paths, paper: str | None = None) -> str:
    """The content of ``tables.json`` of one paper (all enabled papers if None): every table
    with its reading settings (alpha, sidedness, norm: only here), artifacts, options, runs and the
    per-example decisions of its metrics variants (read by the paper commands), every row group
    with its budget, cost matrix and metrics file (read by ``summary``) and the published-logs setting."""
    entries = []
    for e in plan.paper_entries(paper):
        run = plan.runs[e.variant.run_key]
        model = plan.models[run.model_key]
        spec = e.variant.spec
        entries.append(
            {
                "paper": e.paper,
                "table": e.table,
                "label": e.label,
                "group": e.group,
                "run": e.run_name,
                "model": e.model_name,
                "dataset": run.dataset.name,
                "arch": model.arch,
                "method": model.method["name"],
                "train_noise": model.noise,
                "train_sigma": model.sigma,
                "noise": run.noise,
                "sigma": run.sigma,
                "noise_space": run.noise_space,
                "n0": run.n0,
                "n": run.n,
                "examples": f"{run.split}[{run.start}:{'' if run.stop is None else run.stop}:{run.skip}]",
                "budget": spec["budget"],
                "cost": spec["cost"].get("name") if "cost" in spec else None,
                "run_dir": paths.counts.format(run=run.key).rsplit("/", 1)[0],
                "path": paths.metrics_csv.format(run=run.key, variant=e.variant.key),
            }
        )
    dims: dict[str, int] = {}
    tables = [
        {
            "paper": p,
            "table": t,
            "title": plan.papers[p]["title"],
            **{k: v for k, v in spec.items() if k != "runs"},
            "runs": [run_info(plan, paths, name, dims) for name in spec["runs"]],
            "decisions": _decisions(paths.decisions_of(plan, p, [t])),
        }
        for (p, t), spec in plan.tables.items()
        if paper is None or p == paper
    ]
    papers = {p: info for p, info in plan.papers.items() if paper is None or p == paper}
    return canonical_json({"entries": entries, "tables": tables, "papers": papers})


def _decisions(files: dict[tuple[str, str, str], str]) -> dict[str, dict[str, str]]:
    """``{(table, run, budget): file}`` -> ``{run: {budget: file}}`` (one table)."""
    out: dict[str, dict[str, str]] = {}
    for (_, run, budget), path in files.items():
        out.setdefault(run, {})[budget] = path
    return out


def index_json(plan: Plan, paths: Paths) -> str:
    """The content of ``index.json``: every model and run by config name with its folder, its
    family (models: data set and architecture; runs: the model) and its settings, flattened."""
    rows = []
    for name, key in plan.model_names.items():
        model = plan.models[key]
        settings = model.train_config or {"checkpoint": model.checkpoint, "arch": model.arch}
        settings = {k: v for k, v in settings.items() if k not in ("device", "threads")}
        rows.append(
            {
                "kind": "model",
                "name": name,
                "folder": paths.weights_of(plan, key).rsplit("/", 1)[0],
                "family": f"{model.dataset.name} {model.arch}",
                "settings": _flat(settings),
            }
        )
    for name, key in plan.run_names.items():
        run = plan.runs[key]
        identity = {k: v for k, v in run.identity().items() if k not in ("model_key", "dataset")}
        rows.append(
            {
                "kind": "run",
                "name": name,
                "folder": paths.counts.format(run=key).rsplit("/", 1)[0],
                "family": f"model {plan.config['certify'][name]['model']}",
                "settings": _flat(identity),
            }
        )
    return canonical_json({"rows": rows, "used_runs": [n for n, k in plan.run_names.items() if k in plan.used_runs()]})


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level with dotted keys (lists and scalars kept as values)."""
    if not isinstance(obj, dict):
        return {prefix: obj}
    out: dict[str, Any] = {}
    for key, value in obj.items():
        out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def describe(plan: Plan, paths: Paths) -> list[dict[str, str]]:
    """Config name -> key and result folder of every data set, model, run and metrics variant."""
    rows = [
        {"kind": "dataset", "name": n, "key": k, "path": paths.dataset_record.format(dataset=k)}
        for n, k in plan.dataset_names.items()
    ]
    rows += [
        {"kind": "model", "name": n, "key": k, "path": paths.weights_of(plan, k)} for n, k in plan.model_names.items()
    ]
    rows += [
        {"kind": "run", "name": n, "key": k, "path": paths.counts.format(run=k)} for n, k in plan.run_names.items()
    ]
    rows += [
        {
            "kind": "metrics",
            "name": f"{e.paper}/{e.table}/{e.label}",
            "key": e.variant.key,
            "path": paths.metrics_csv.format(run=e.variant.run_key, variant=e.variant.key),
        }
        for e in plan.entries
    ]
    return rows


def artifact_caption(plan: Plan, artifact: Artifact) -> str:
    """The report caption of a paper artifact: the paper's table or figure, the config keys behind
    it (for each config table that builds it) and the conventions."""
    tables = [t for (p, t), spec in plan.tables.items() if p == artifact.paper and artifact.name in spec["artifacts"]]
    keys = artifact.keys.replace("<t>", "{" + ", ".join(tables) + "}")
    scales = []
    for t in tables:
        spec = plan.tables[(artifact.paper, t)]
        if spec["scale"]:
            sigmas = [plan.runs[lookup(plan.run_names, "certify", r, t)].sigma for r in spec["runs"]]
            scales.append(f"Table ``{t}``: {scale_text(spec['scale'], spec['dataset'], sigmas)}. ")
    return (
        f"**{artifact.reference}.** {artifact.title}. Config keys: ``papers/{artifact.paper}/{keys}``. "
        f"{''.join(scales)}{CONVENTIONS} Target: ``snakemake --cores all {artifact.target}``."
    )
