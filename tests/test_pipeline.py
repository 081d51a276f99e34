"""randsmooth.pipeline: strict config reading, schema validation, content-addressed expansion,
spec files, paths and summaries.

Fast unit tests (no Snakemake run). The schema's enumerations are checked against the library's
registries, and every model of every shipped config is checked to produce a training config that
``randsmooth.train_config.resolve_config`` leaves unchanged (one home for the defaults).
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from randsmooth.cli import describe as describe_cli
from randsmooth.cli import prepare_data as prepare_cli
from randsmooth.cli import summary as summary_cli
from randsmooth.counts.settings import RNG_SCHEMES
from randsmooth.counts.spec import RUN_DEFAULTS, RunSpec
from randsmooth.papers import catalog
from randsmooth.pipeline import commands, config
from randsmooth.pipeline.identity import check_recipe_file, check_run_file, model_key, run_key_of
from randsmooth.pipeline.keys import KEY_PATTERN
from randsmooth.pipeline.paths import Paths
from randsmooth.pipeline.plan import Plan
from randsmooth.train_config import resolve_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "schema.yaml"
CONFIGS = [
    REPO / "config" / "config.yaml",
    REPO / "config" / "ci.yaml",
    *sorted((REPO / "config" / "papers").glob("*.yaml")),
]
EVIL = "a b; touch INJECTED $(touch INJECTED2) `id` 'q' \"dq\" \\ {x}"


def raw(name: str = "ci.yaml") -> dict[str, Any]:
    return yaml.safe_load((REPO / "config" / name).read_text())


def expand(cfg: dict[str, Any]) -> Plan:
    return Plan(config.validate(copy.deepcopy(cfg), SCHEMA))


def through_bash(words: str, cwd: Path) -> list[str]:
    """What ``printf '%s\\n' WORDS`` prints in a real shell (one line per word)."""
    result = subprocess.run(["bash", "-c", f"printf '%s\\n' {words}"], cwd=cwd, capture_output=True, text=True)
    return result.stdout.splitlines()


# ------------------------------------------------------------------------------ schema
def test_shipped_configs_exist() -> None:
    names = {p.name for p in CONFIGS}
    assert {"config.yaml", "ci.yaml", "cohen2019.yaml", "yang2020.yaml", "sun2025.yaml", "xin2025.yaml"} <= names


def test_schema_enums_match_library_registries() -> None:
    from randsmooth.data import dataset_names
    from randsmooth.models import arch_names
    from randsmooth.sampling import noise_names

    defs = config.load_yaml(SCHEMA)["$defs"]
    assert sorted(defs["dataset"]["properties"]["name"]["enum"]) == sorted(dataset_names())
    assert sorted(defs["model"]["properties"]["arch"]["enum"]) == sorted(arch_names())
    assert sorted(defs["noise_name"]["enum"]) == sorted(noise_names())


def test_schema_cost_presets_exist() -> None:
    from randsmooth.costs import preset_names

    schema = config.load_yaml(SCHEMA)
    presets = {name.split("/")[1] for name in preset_names()}
    assert set(schema["$defs"]["cost"]["properties"]["preset"]["enum"]) == presets


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_validates_and_expands(path: Path) -> None:
    plan = Plan(config.load(path, SCHEMA))
    paths = Paths(plan.results)
    assert paths.final_targets(plan) and plan.used_runs() and plan.used_models()
    for key in plan.used_runs():  # every run's settings file can be written and gives its folder's key
        settings = json.loads(commands.run_settings_json(plan, key))
        assert settings["num_shards"] == plan.run(key).shards
        assert run_key_of(RunSpec.from_file(settings, "run.json")) == key


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_train_configs_are_fully_resolved(path: Path) -> None:
    """recipe.json holds every key of the trainer's config with the trainer's own defaults."""
    plan = Plan(config.load(path, SCHEMA))
    for model in plan.models.values():
        if model.train_config is None:
            continue
        assert resolve_config(model.train_config) == model.train_config
        assert json.loads(commands.recipe_json(plan, model.key)) == model.train_config
        assert model_key(json.loads(commands.recipe_json(plan, model.key)), model.pretrained) == model.key


def test_schema_run_block_has_the_run_settings_defaults() -> None:
    """The config schema's certify entry repeats the defaults of randsmooth.counts.RunSpec (their one
    definition) for its users: every setting it shares with RunSpec has the same default."""
    properties = config.load_yaml(SCHEMA)["$defs"]["certify_run"]["properties"]
    examples = properties["examples"]["properties"]
    schema = {name: p["default"] for name, p in {**properties, **examples}.items() if "default" in p}
    shared = sorted(set(schema) & set(RUN_DEFAULTS) - {"noise", "noise_params", "sigma"})  # null: the model's
    assert shared == sorted(
        ["n0", "n", "split", "start", "stop", "skip", "seed", "batch", "noise_block", "rng"]
        + ["fast", "compile", "sequential"]
    )
    assert {name: schema[name] for name in shared} == {name: RUN_DEFAULTS[name] for name in shared}
    assert set(properties["rng"]["enum"]) == set(RNG_SCHEMES)


def test_schema_alpha_range_is_the_certificates() -> None:
    """A table's alpha in the schema has the range of randsmooth.bounds.certificate_alpha, the one check."""
    from randsmooth.bounds import CERTIFICATE_ALPHA

    alpha = config.load_yaml(SCHEMA)["$defs"]["table"]["properties"]["alpha"]
    assert (alpha["exclusiveMinimum"], alpha["exclusiveMaximum"]) == CERTIFICATE_ALPHA


def test_hand_edited_spec_files_are_refused(tmp_path: Path) -> None:
    """run.json and recipe.json name their folder: an edited file (n 1000 -> 500) no longer does."""
    plan = expand(raw())
    run_key = plan.run_names["gauss"]
    run_file = tmp_path / "certify" / run_key / "run.json"
    run_file.parent.mkdir(parents=True)
    settings = json.loads(commands.run_settings_json(plan, run_key))
    check_run_file(run_file, RunSpec.from_file(settings, str(run_file)))  # as written: accepted
    edited = RunSpec.from_file({**settings, "n": settings["n"] // 2}, str(run_file))
    message = f"{run_file} does not match its folder key (edited by hand?): restore it or delete the folder"
    with pytest.raises(ValueError, match=re.escape(message)):
        check_run_file(run_file, edited)
    check_run_file(tmp_path / "run.json", edited)  # a file outside a run folder is the user's own
    model = plan.models[plan.model_names["gauss"]]
    recipe_file = tmp_path / "models" / model.key / "recipe.json"
    recipe = json.loads(commands.recipe_json(plan, model.key))
    check_recipe_file(recipe_file, recipe, None)
    recipe["epochs"] += 1
    with pytest.raises(ValueError, match="recipe.json does not match its folder key"):
        check_recipe_file(recipe_file, recipe, None)


def test_defaults_are_filled_in() -> None:
    cfg = config.validate(raw(), SCHEMA)
    assert cfg["gpu"] == {"lock_dir": None, "devices": None, "wait_timeout": None}
    run = cfg["certify"]["gauss"]
    assert run["noise"] is None and run["batch"] == 400 and run["noise_block"] == 128
    assert run["examples"] == {"split": "test", "start": 0, "stop": None, "skip": 3}
    table = cfg["papers"]["cohen2019"]["tables"]["digits"]
    assert table["budgets"] == [None] and table["alpha"] == 0.001 and table["two_sided"] is False
    # recipe defaults come from randsmooth.train_config only
    assert Plan(cfg).models[Plan(cfg).model_names["gauss"]].train_config["optimizer"]["momentum"] == 0.9


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda c: c.update(bogus=1), "bogus"),
        (lambda c: c["models"]["gauss"].update(arch="resnet9000"), "models/gauss/arch"),
        (lambda c: c["models"]["gauss"].pop("sigma"), "models/gauss"),
        (lambda c: c["certify"]["gauss"].update(n0=0), "certify/gauss/n0"),
        (lambda c: c["certify"]["gauss"]["examples"].update(splitt="test"), "certify/gauss/examples/splitt"),
        (lambda c: c.update(device="gpu"), "device"),
        (
            lambda c: c["papers"]["cohen2019"]["tables"]["digits"].update(norm="l3"),
            "papers/cohen2019/tables/digits/norm",
        ),
        (
            lambda c: c["papers"]["cohen2019"]["tables"]["digits"].update(alpha=0.5),
            "papers/cohen2019/tables/digits/alpha",
        ),
    ],
)
def test_schema_errors_name_the_key(mutate: Any, key: str) -> None:
    cfg = raw()
    mutate(cfg)
    with pytest.raises(ValueError, match=f"config key '{key}'"):
        config.validate(cfg, SCHEMA)


def test_alpha_on_a_certify_entry_says_where_it_moved() -> None:
    cfg = raw()
    cfg["certify"]["gauss"]["alpha"] = 0.001
    with pytest.raises(ValueError, match=r"'certify/gauss/alpha': alpha moved to the paper tables"):
        config.validate(cfg, SCHEMA)
    cfg = raw()
    cfg["certify"]["uniform"]["two_sided"] = True
    with pytest.raises(ValueError, match=r"'certify/uniform/two_sided': two_sided moved"):
        config.validate(cfg, SCHEMA)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c["certify"]["gauss"].update(model="nope"), r"'certify/gauss/model': unknown models entry 'nope'"),
        (lambda c: c["models"]["gauss"].update(dataset="mnist"), r"'models/gauss/dataset': unknown datasets entry"),
        (lambda c: c["models"]["gauss"].update(recipe="huge"), r"'models/gauss/recipe': unknown recipe 'huge'"),
        (
            lambda c: c["papers"]["cohen2019"]["tables"]["digits"].update(runs=["gauss", "ghost"]),
            r"'papers/cohen2019/tables/digits/runs': unknown certify entry 'ghost'",
        ),
        (
            lambda c: c["papers"]["sun2025"]["tables"]["digits"].update(budgets=[500]),
            r"'papers/sun2025/tables/digits/budgets': budget 500 is not a recorded prefix budget",
        ),
        (lambda c: c["certify"]["gauss"].update(shard_size=10, shards=2), r"give shards or shard_size, not both"),
        (lambda c: c["certify"]["gauss"].update(examples={"stop": 4}, shards=5), r"5 shards for only 4 examples"),
        (
            lambda c: c["recipes"]["tiny"]["schedule"].update(step_size=3),
            r"'recipes/tiny': unknown config key 'schedule.step_size'",
        ),
        (
            lambda c: c["recipes"]["tiny"].update(schedule={"name": "step"}),
            r"'recipes/tiny': config is missing required key 'schedule.step_size'",
        ),
        (
            lambda c: c["recipes"]["tiny"]["optimizer"].update(weight_decay="1e-4"),
            r"'recipes/tiny': config key 'optimizer.weight_decay' must be a finite number",
        ),
        (lambda c: c["recipes"]["tiny"].update(epoch=3), r"'recipes/tiny/epoch' is not allowed"),
        (
            lambda c: c["models"]["gauss"].update(sigma=0.0),
            r"'certify/gauss/sigma': model 'gauss' was trained without noise",
        ),
        (lambda c: c["models"]["gauss"].update(checkpoint="x.pt"), r"'models/gauss/recipe': a model with a checkpoint"),
        (lambda c: c.update(results="out/{x}"), r"config key 'results'"),
        # checked before any job starts (they used to fail only when a job ran)
        (lambda c: c["models"]["gauss"].update(noise="pareto"), r"'models/gauss/noise_params'.*'a'"),
        (
            lambda c: c["models"]["gauss"].update(noise="pareto", noise_params={"a": 1}),
            r"'models/gauss/noise_params'.*a",
        ),
        (lambda c: c["certify"]["gauss"]["examples"].update(stop=451), r"'certify/gauss/examples/stop': 451 is beyond"),
        (lambda c: c["certify"]["gauss"].update(shards=200), r"'certify/gauss/shards': 200 shards for only 150"),
        (lambda c: c["models"]["gauss"].update(method={"name": "nope"}), r"'models/gauss/method'.*unknown training"),
        (
            lambda c: c["models"]["gauss"].update(method={"name": "stability", "params": {"wieght": 2}}),
            r"'models/gauss/method'.*unexpected parameter",
        ),
        (lambda c: c["datasets"]["digits"].update(options={"colour": 1}), r"'datasets/digits/options'.*colour"),
        (
            lambda c: c["models"]["uniform"].update(noise_space="normalized"),
            r"^'?[^\n]*'papers/yang2020/tables/digits/runs': the table mixes runs of different noise spaces "
            r"\(normalized: uniform; pixel: gauss\)",
        ),
        (
            lambda c: c["papers"]["cohen2019"]["tables"]["digits"].update(first_examples=76),
            r"'papers/cohen2019/tables/digits/first_examples': 76 examples, but run 'gauss_at_0.50' certifies only 75",
        ),
        (
            lambda c: c["models"]["catrs"].update(
                noise_space="normalized", method={"name": "smoothadv", "params": {"steps": 1}}
            ),
            r"'models/catrs/method'.*'smoothadv' clips its attacked inputs",
        ),
    ],
)
def test_semantic_errors_name_the_key(mutate: Any, message: str) -> None:
    cfg = raw()
    mutate(cfg)
    with pytest.raises(ValueError, match=message):
        expand(cfg)


# ------------------------------------------------------------------- strict reading
def test_duplicate_yaml_keys_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("models:\n  a: {sigma: 1}\n  b: {sigma: 2}\n  a: {sigma: 3}\n")
    with pytest.raises(ValueError, match=r"dup.yaml: line 4: duplicate key 'a' \(first on line 2\)"):
        config.load_yaml(path)
    merged = tmp_path / "merge.yaml"  # YAML merge keys may still override a template
    merged.write_text("x-t: &t {a: 1, b: 2}\nentry: {<<: *t, b: 3}\n")
    assert config.load_yaml(merged)["entry"] == {"a": 1, "b": 3}


def test_workflow_config_reads_only_the_given_files(tmp_path: Path) -> None:
    ci = REPO / "config" / "ci.yaml"
    cfg = config.workflow_config([ci], {}, REPO)
    assert sorted(cfg["models"]) == ["catrs", "gauss", "uniform"]  # nothing of config/config.yaml
    default = config.workflow_config([], {"results": "elsewhere"}, REPO)
    assert "gauss_0.25" in default["models"] and default["results"] == "elsewhere"
    home = config.workflow_config([ci], {"results": "~/rs-results"}, REPO)
    assert home["results"] == str(Path.home() / "rs-results")
    incomplete = tmp_path / "nopapers.yaml"
    incomplete.write_text(yaml.safe_dump({k: v for k, v in raw().items() if k != "papers"}))
    with pytest.raises(ValueError, match=r"nopapers.yaml: config key '<top level>': 'papers' is a required property"):
        config.workflow_config([incomplete], {}, REPO)


# ------------------------------------------------------------------- content addressing
def test_identical_recipes_share_one_model_folder() -> None:
    cfg = raw()
    inline = copy.deepcopy(cfg["recipes"]["tiny"])
    inline["optimizer"].update(momentum=0.9, weight_decay=0.0001, name="sgd")  # = the defaults
    cfg["models"]["other name, same recipe"] = {**cfg["models"]["gauss"], "recipe": inline}
    cfg["certify"]["again"] = {**cfg["certify"]["gauss"], "model": "other name, same recipe"}
    plan = expand(cfg)
    assert plan.model_names["gauss"] == plan.model_names["other name, same recipe"]
    assert plan.run_names["gauss"] == plan.run_names["again"]
    assert len(plan.models) == 3 and len(plan.runs) == 5  # gauss = again, gauss_at_0.50, uniform, catrs, gauss_seq


@pytest.mark.parametrize(
    "section, change, same",
    [
        ("recipe", lambda c: c["recipes"]["tiny"]["optimizer"].update(lr=0.01), False),
        ("recipe", lambda c: c["recipes"]["tiny"].update(seed=1), False),
        (
            "model",  # the table's high_prob artifact then reads the run at the new sigma
            lambda c: [
                c["models"]["gauss"].update(sigma=0.5),
                c["papers"]["cohen2019"]["tables"]["digits"]["options"].update(high_prob_sigma=0.5),
            ],
            False,
        ),
        ("model", lambda c: c["models"]["gauss"]["arch_params"].update(width=9), False),
        ("dataset", lambda c: c["datasets"]["digits"].update(options={"upsample": True}), False),
        ("runtime", lambda c: c.update(device="cuda", threads=8), True),
        ("paths", lambda c: c.update(results="elsewhere", data_root="/other/data"), True),
        ("int or float", lambda c: c["recipes"]["tiny"]["optimizer"].update(lr=0.05, momentum=0.9), True),
        ("noise space", lambda c: [c["models"][m].update(noise_space="normalized") for m in c["models"]], False),
        ("default noise space", lambda c: c["models"]["gauss"].update(noise_space="pixel"), True),
    ],
)
def test_model_key_changes_with_the_recipe_only(section: str, change: Any, same: bool) -> None:
    before = expand(raw()).model_names["gauss"]
    cfg = raw()
    change(cfg)
    assert (expand(cfg).model_names["gauss"] == before) is same, section


@pytest.mark.parametrize(
    "change, same",
    [
        (lambda c: c["certify"]["gauss"].update(n0=21), False),
        (lambda c: c["certify"]["gauss"].update(n=1000), False),
        (lambda c: c["certify"]["gauss"].update(seed=5), False),
        (lambda c: c["certify"]["gauss"].update(shards=3), False),
        (  # no run of the table is then certified at its training sigma: only an artifact without such runs
            lambda c: [
                c["certify"]["gauss"].update(sigma=0.5),
                c["papers"]["cohen2019"]["tables"]["digits"].update(artifacts=["radius_vs_pa"]),
            ],
            False,
        ),
        (lambda c: c["papers"]["cohen2019"]["tables"]["digits"].update(alpha=0.01, two_sided=True), True),
        (lambda c: [c["certify"][r].update(batch=17) for r in ("gauss", "gauss_twin")], True),  # one folder
        (lambda c: [c["models"][m].update(noise_space="normalized") for m in c["models"]], False),
    ],
)
def test_run_key_changes_with_the_sampling_only(change: Any, same: bool) -> None:
    before = expand(raw()).run_names["gauss"]
    cfg = raw()
    change(cfg)
    assert (expand(cfg).run_names["gauss"] == before) is same


def test_a_new_alpha_reads_the_same_counts() -> None:
    cfg = raw()
    options = {"high_prob_sigma": 0.25, "vary_train_noise_sigma": 0.25}  # gauss's sigma (the defaults: 0.5)
    table = {"runs": ["gauss"], "alpha": 0.01, "radii": [0.0], "options": options}
    cfg["papers"]["cohen2019"]["tables"]["l2_alpha_0.01"] = table
    plan = expand(cfg)
    variants = {e.variant.spec["alpha"]: e.variant for e in plan.paper_entries("cohen2019") if e.run_name == "gauss"}
    assert set(variants) == {0.001, 0.01}
    assert variants[0.001].run_key == variants[0.01].run_key and variants[0.001].key != variants[0.01].key


# ------------------------------------------------------------------- sequential runs
SEQ_RUN = "gauss_at_0.50"  # read by one table of ci.yaml: cohen2019/digits (l2, alpha 0.001, radii 0, 0.25, 0.5)


def sequential_cfg(**settings: Any) -> dict[str, Any]:
    """ci.yaml with SEQ_RUN sequential; its table builds the artifacts that can read it (not
    PREDICT, which reads fixed-N prefix budgets)."""
    cfg = raw()
    cfg["certify"][SEQ_RUN]["sequential"] = {"mode": "grid", "max_n": 1500, **settings}
    defaults = catalog.table_artifacts("cohen2019", None, "digits", "")
    cfg["papers"]["cohen2019"]["tables"]["digits"]["artifacts"] = [a for a in defaults if a != "predict"]
    return cfg


def test_a_sequential_run_takes_its_tables_settings_and_writes_them_to_run_json() -> None:
    fixed = expand(raw())
    plan = expand(sequential_cfg())
    run = plan.run(plan.run_names[SEQ_RUN])
    assert run.n == 1500  # n = max_n
    seq = run.sequential
    assert (seq["mode"], seq["max_n"], seq["norm"], seq["alpha"], seq["radii"]) == (
        "grid",
        1500,
        "l2",
        0.001,
        [0.0, 0.25, 0.5],
    )
    assert json.loads(commands.run_settings_json(plan, run.key))["sequential"] == seq
    assert "sequential" not in json.loads(commands.run_settings_json(plan, plan.run_names["gauss"]))
    # a new key for the sequential run; the fixed-N runs keep theirs
    assert run.key != fixed.run_names[SEQ_RUN]
    assert {n: k for n, k in plan.run_names.items() if n != SEQ_RUN} == {
        n: k for n, k in fixed.run_names.items() if n != SEQ_RUN
    }
    # settings given in the entry are the same run as the ones taken from the table
    explicit = expand(sequential_cfg(norm="l2", alpha=0.001, radii=[0.5, 0.25, 0.0]))
    assert explicit.run_names[SEQ_RUN] == run.key
    assert expand(sequential_cfg(first=40)).run_names[SEQ_RUN] != run.key


def add_reader(cfg: dict[str, Any], **spec: Any) -> None:
    table = {"runs": [SEQ_RUN], "radii": [0.0, 0.25, 0.5], "artifacts": ["radius_vs_n"]}  # needs no matched run
    cfg["papers"]["cohen2019"]["tables"]["again"] = table | spec


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda c: c["certify"][SEQ_RUN]["sequential"].update(alpha=0.01),
            r"'papers/cohen2019/tables/digits/alpha': run 'gauss_at_0.50' is sequential",
        ),
        (
            lambda c: c["certify"][SEQ_RUN]["sequential"].update(norm="l1"),
            r"'papers/cohen2019/tables/digits/norm'.*expected norm l1",
        ),
        (
            lambda c: c["certify"][SEQ_RUN]["sequential"].update(radii=[0.5]),
            r"'papers/cohen2019/tables/digits/radii'.*expected radii \[0.5\]",
        ),
        (lambda c: add_reader(c, budgets=[100, None]), r"'papers/cohen2019/tables/again/budgets'"),
        (lambda c: add_reader(c, two_sided=True), r"'papers/cohen2019/tables/again/two_sided'"),
        (
            lambda c: add_reader(c, alpha=0.01),
            r"'certify/gauss_at_0.50/sequential/alpha': the tables .* different alpha",
        ),
        (lambda c: add_reader(c, radii=[0.0]), r"'certify/gauss_at_0.50/sequential/radii': the tables"),
        (
            lambda c: c["certify"][SEQ_RUN]["sequential"].update(mode="radius"),
            r"'certify/gauss_at_0.50/sequential'.*radius is required",
        ),
        (
            lambda c: c["certify"][SEQ_RUN].update(rng="block-v1"),
            r"'certify/gauss_at_0.50/rng': a sequential run needs philox-v1",
        ),
    ],
)
def test_sequential_errors_name_the_key(mutate: Any, message: str) -> None:
    cfg = sequential_cfg()
    mutate(cfg)
    with pytest.raises(ValueError, match=message):
        expand(cfg)


def sun_reader(cfg: dict[str, Any], artifacts: list[str]) -> None:
    cfg["papers"]["sun2025"]["tables"]["seq"] = {"runs": [SEQ_RUN], "radii": [0.0, 0.25, 0.5], "artifacts": artifacts}


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda c: c["papers"]["cohen2019"]["tables"]["digits"].pop("artifacts"),
            r"^config key 'papers/cohen2019/tables/digits/artifacts': artifact 'predict' cannot read sequential "
            r"run 'gauss_at_0.50': it reads the prefix budgets of fixed-N counts",
        ),
        (
            lambda c: sun_reader(c, ["table", "pa_ecdf"]),
            r"'papers/sun2025/tables/seq/artifacts': artifact 'pa_ecdf' cannot read .* p_A estimates",
        ),
        (lambda c: sun_reader(c, ["acr_budget"]), r"artifact 'acr_budget' cannot read .* prefix budgets"),
        (lambda c: sun_reader(c, ["pa_histogram"]), r"artifact 'pa_histogram' cannot read"),
        (
            lambda c: c["papers"]["yang2020"]["tables"].update(
                seq={"runs": [SEQ_RUN], "norm": "l2", "radii": [0.0, 0.25, 0.5], "artifacts": ["envelope_l1"]}
            ),
            r"'papers/yang2020/tables/seq/artifacts': artifact 'envelope_l1' cannot read .* another norm",
        ),
        (
            lambda c: c["papers"]["xin2025"]["tables"].update(
                seq={
                    "runs": [SEQ_RUN],
                    "radii": [0.0, 0.25, 0.5],
                    "costs": [{"name": "3 -> 5", "num_classes": 10, "pairs": [[3, 5, 1.0]]}],
                    "artifacts": ["standard"],
                }
            ),
            r"'papers/xin2025/tables/seq/costs': run 'gauss_at_0.50' is sequential .* expected no costs",
        ),
    ],
)
def test_paper_code_that_needs_fixed_n_counts_refuses_a_sequential_run_at_plan_time(mutate: Any, message: str) -> None:
    cfg = sequential_cfg()
    mutate(cfg)
    with pytest.raises(ValueError, match=message) as info:
        expand(cfg)
    assert "\n" not in str(info.value)
    # the same table reading a fixed-N run is fine, as is an artifact in the table's own norm
    sun_reader(cfg := raw(), ["table", "pa_ecdf", "acr_budget", "pa_histogram"])
    expand(cfg)
    cfg = sequential_cfg()
    cfg["papers"]["yang2020"]["tables"]["seq"] = {"runs": [SEQ_RUN], "norm": "l2", "radii": [0.0, 0.25, 0.5]}
    cfg["papers"]["yang2020"]["tables"]["seq"]["artifacts"] = ["envelope_l2"]
    expand(cfg)


def only_fixed_n_in_cohens_sequential_table(cfg: dict[str, Any]) -> None:
    for paper in ("yang2020", "sun2025", "xin2025"):
        del cfg["papers"][paper]["tables"]["sequential"]
    cfg["papers"]["cohen2019"]["tables"]["sequential"]["runs"] = ["gauss"]
    del cfg["certify"]["gauss_seq"]


def test_the_samples_artifacts_pair_each_sequential_run_with_its_fixed_n_twin() -> None:
    plan = expand(raw())
    assert plan.tables[("cohen2019", "sequential")]["pairs"] == [["gauss_seq", "gauss_twin"]]
    assert "pairs" not in plan.tables[("cohen2019", "digits")]
    tables = json.loads(commands.paper_tables_json(plan, Paths(plan.results), "cohen2019"))
    by_name = {t["table"]: t for t in tables["tables"]}
    assert by_name["sequential"]["pairs"] == [["gauss_seq", "gauss_twin"]]
    runs = {r["run"]: r for r in by_name["sequential"]["runs"]}
    assert runs["gauss_seq"]["sequential"]["mode"] == "grid" and "sequential" not in runs["gauss_twin"]
    # the twin shares everything that draws the noise: shards may differ, nothing else
    cfg = raw()
    cfg["certify"]["gauss_seq"]["shards"] = 1
    assert expand(cfg).tables[("cohen2019", "sequential")]["pairs"] == [["gauss_seq", "gauss_twin"]]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda c: c["certify"]["gauss_seq"].update(n0=30),
            r"^config key 'papers/cohen2019/tables/sequential/runs': sequential run 'gauss_seq' has no fixed-N "
            r"twin in the table",
        ),
        (
            lambda c: c["certify"]["gauss_seq"].update(seed=1),
            r"sequential run 'gauss_seq' has no fixed-N twin",
        ),
        (
            lambda c: c["papers"]["cohen2019"]["tables"]["sequential"]["runs"].append("uniform"),
            r"tables/sequential/runs': run 'uniform' is not the fixed-N twin of a sequential run",
        ),
        (
            lambda c: only_fixed_n_in_cohens_sequential_table(c),
            r"tables/sequential/runs': the artifacts \['samples', 'samples_histogram'\] compare .* no sequential run",
        ),
    ],
)
def test_samples_artifacts_refuse_tables_without_pairs(mutate: Any, message: str) -> None:
    cfg = raw()
    mutate(cfg)
    with pytest.raises(ValueError, match=message):
        expand(cfg)


def test_a_sequential_run_read_by_no_table_needs_its_settings() -> None:
    cfg = sequential_cfg()
    cfg["certify"]["lone"] = {
        "model": "gauss",
        "n": 100,
        "sequential": {"mode": "radius", "max_n": 100, "radius": 0.25},
    }
    with pytest.raises(ValueError, match=r"'certify/lone/sequential/norm': required \(no enabled paper table"):
        expand(cfg)
    cfg["certify"]["lone"]["sequential"].update(norm="l2", alpha=0.001)
    plan = expand(cfg)
    run = plan.run(plan.run_names["lone"])
    assert run.sequential["radii"] == [0.25]
    # run.json holds the canonical form, which reads back as the same settings (and the same key)
    written = json.loads(commands.run_settings_json(plan, run.key))
    assert RunSpec.from_file(written, "run.json").sequential == run.sequential
    assert run_key_of(RunSpec.from_file(written, "run.json")) == run.key
    cfg["certify"]["lone"]["sequential"]["extra"] = 1
    with pytest.raises(ValueError, match=r"certify/lone/sequential"):
        expand(cfg)


def test_noise_space_travels_from_the_model_to_its_runs_and_tables() -> None:
    cfg = raw()
    cfg["models"]["gauss"]["noise_space"] = "normalized"
    cfg["papers"]["yang2020"]["tables"]["digits"]["runs"] = ["gauss"]
    del cfg["papers"]["sun2025"]["tables"]["ablation"]  # would mix gauss (normalised) and catrs (pixel)
    plan = expand(cfg)
    model, run = plan.model_names["gauss"], plan.run_names["gauss"]
    assert json.loads(commands.recipe_json(plan, model))["noise"]["space"] == "normalized"
    assert json.loads(commands.run_settings_json(plan, run))["noise_space"] == "normalized"
    tables = json.loads(commands.paper_tables_json(plan, Paths(plan.results)))
    assert {e["noise_space"] for e in tables["entries"] if e["run"] == "gauss"} == {"normalized"}
    spaces = {(t["paper"], t["table"]): t["noise_space"] for t in tables["tables"]}
    assert spaces["cohen2019", "digits"] == "normalized" and spaces["sun2025", "methods"] == "pixel"
    from randsmooth.pipeline.summary import summary_markdown

    frame = pd.DataFrame(
        [
            {
                "paper": "cohen2019",
                "table": "digits",
                "label": "gauss",
                "metric": "acr",
                "param": float("nan"),
                "value": 0.1,
            }
        ]
    )
    assert "sigma and radii in normalised units" in summary_markdown(frame, tables)


def test_first_examples_reads_a_prefix_of_the_same_run() -> None:
    cfg = raw()
    options = {"high_prob_sigma": 0.25, "vary_train_noise_sigma": 0.25}  # gauss's sigma (the defaults: 0.5)
    table = {"runs": ["gauss"], "alpha": 0.01, "first_examples": 100, "options": options}
    cfg["papers"]["cohen2019"]["tables"]["first_100"] = table
    plan = expand(cfg)
    entries = {e.table: e.variant for e in plan.paper_entries("cohen2019") if e.run_name == "gauss"}
    assert entries["first_100"].run_key == entries["digits"].run_key
    assert entries["first_100"].spec["first_examples"] == 100 and "first_examples" not in entries["digits"].spec
    assert "first100" in entries["first_100"].key


def test_default_config_deduplicates_shared_runs() -> None:
    plan = Plan(config.load(REPO / "config" / "config.yaml", SCHEMA))
    for sigma in ("0.125", "0.25", "0.50"):  # Sun's runs are Cohen's counts
        assert plan.run_names[f"sun_gauss_{sigma}"] == plan.run_names[f"cohen_{sigma}"]
    assert plan.run_names["yang_gauss_0.50"] != plan.run_names["cohen_0.50"]  # n0 = 64
    assert plan.run_names["xin_gauss_0.25"] == plan.run_names["xinm_gauss"]  # the same sampling: counted once
    # and the four sequential runs, whose fixed-N twins are runs above
    assert len(plan.used_models()) == 33 and len(plan.used_runs()) == 45


def test_keys_are_path_safe_and_readable() -> None:
    plan = expand(raw())
    for key in [*plan.models, *plan.runs, *plan.datasets, *(v for _, v in plan.variants)]:
        assert re.fullmatch(KEY_PATTERN, key), key
    assert plan.model_names["gauss"].startswith("digits_digits_cnn_gaussian_gaussian_0.25-")


def test_same_dataset_with_two_roots_is_rejected() -> None:
    cfg = raw()
    cfg["datasets"]["again"] = {"name": "digits", "root": "/elsewhere"}
    with pytest.raises(ValueError, match="'datasets/again': the same data set as 'datasets/digits'"):
        expand(cfg)


# --------------------------------------------------------------------------- paths
def test_paths_under_results_folder() -> None:
    cfg = raw()
    cfg["results"] = "my results/x"
    plan = expand(cfg)
    paths = Paths(plan.results)
    key = plan.used_runs()[0]
    assert paths.shard.format(run=key, shard=1) == f"my results/x/certify/{key}/shards/1.parquet"
    assert paths.weights == "my results/x/models/{model}/final.pt"
    assert paths.log("train", "{model}.log") == "my results/x/logs/train/{model}.log"
    cfg["results"] = "."
    assert Paths(expand(cfg).results).summary_csv == "summary.csv"
    with pytest.raises(AttributeError, match="no results path named 'sahrd'"):
        paths.sahrd  # noqa: B018


def test_targets_cover_every_enabled_paper() -> None:
    cfg = raw()
    cfg["papers"]["xin2025"]["enabled"] = False
    plan = expand(cfg)
    paths = Paths(plan.results)
    assert sorted(plan.papers) == ["cohen2019", "sun2025", "yang2020"]
    assert not any("xin2025" in t for t in paths.final_targets(plan))
    assert not any("s-pair" in t for t in paths.metrics_of(plan))
    assert len(paths.metrics_of(plan)) == len(set(paths.metrics_of(plan)))


# ----------------------------------------------------------------- spec files, quoting
def evil_config() -> dict[str, Any]:
    cfg = raw()
    cfg["data_root"] = EVIL
    cfg["gpu"] = {"lock_dir": EVIL}
    cfg["device"] = "auto"
    cfg["datasets"]["digits"]["options"] = {"test_size": 0.25}
    cfg["papers"]["xin2025"]["tables"]["digits"]["costs"][0]["name"] = EVIL
    return cfg


def test_spec_files_and_arguments_survive_the_shell_verbatim(tmp_path: Path) -> None:
    plan = expand(evil_config())
    paths = Paths(plan.results)
    key = plan.run_names["gauss"]
    variant = next(e.variant for e in plan.entries if e.variant.spec.get("cost", {}).get("name") == EVIL)
    lease = commands.lease_prefix(plan, "python")
    assert shlex.split(lease) == ["python", "-m", "randsmooth", "gpu-lease", "--lock-dir", EVIL, "--"]
    texts = [
        commands.run_settings_json(plan, key),
        commands.variant_json(plan, variant.run_key, variant.key),
        commands.paper_tables_json(plan, paths, "xin2025"),
        plan.datasets[plan.dataset_names["digits"]].root,
    ]
    for text in texts:  # as the rules pass them: {params.x:q} = shlex.quote
        assert through_bash(shlex.quote(text), tmp_path) == [text]
    through_bash(lease, tmp_path)
    assert not list(tmp_path.iterdir()), "a command was injected"
    cfg = evil_config()
    cfg["device"] = "cpu"
    assert commands.lease_prefix(expand(cfg), "python") == ""


def test_run_settings_and_variants() -> None:
    plan = expand(raw())
    uniform = plan.run_names["uniform"]
    settings = json.loads(commands.run_settings_json(plan, uniform))
    assert settings["noise"] == "uniform" and settings["sigma"] == 0.5 and settings["n0"] == 64
    assert settings["num_shards"] == 2 and settings["skip"] == 3 and settings["stop"] is None
    assert settings["dataset"] == "digits" and settings["model"] == plan.model_names["uniform"]
    # the certify command reads every key (sequential is written only for sequential runs)
    assert set(settings) == set(RunSpec.file_names()) - {"sequential"}
    (variant,) = [v for (r, _), v in plan.variants.items() if r == uniform]
    spec = json.loads(commands.variant_json(plan, uniform, variant.key))
    assert spec["alpha"] == 0.001 and spec["norm"] == "l1" and spec["two_sided"] is True
    preset = next(v for v in plan.variants.values() if v.spec.get("cost", {}).get("preset") == "s-pair")
    assert preset.spec["cost"] == {"preset": "s-pair", "dataset": "cifar10", "name": "s-pair"}
    assert preset.spec["cs_mode"] == "group" and preset.spec["legacy_alpha"] is False
    budget = next(v for v in plan.variants.values() if v.spec["budget"] == 100)
    assert json.loads(commands.variant_json(plan, budget.run_key, budget.key))["budget"] == 100


def test_variant_specs_are_valid_metrics_specs() -> None:
    from randsmooth.evaluate import MetricsSpec

    plan = expand(raw())
    for variant in plan.variants.values():
        assert MetricsSpec.from_dict(json.loads(commands.variant_json(plan, variant.run_key, variant.key)))


def test_free_form_cost_matrix_is_in_the_variant() -> None:
    from randsmooth.costs import from_config

    plan = expand(raw())
    custom = next(v for v in plan.variants.values() if "pairs" in v.spec.get("cost", {}))
    matrix = from_config(custom.spec["cost"])
    assert matrix.num_classes == 10 and matrix.matrix[3, 5] == 1.0 and matrix.matrix.sum() == 1.0
    labels = [e.label for e in plan.entries if (e.paper, e.table) == ("xin2025", "digits")]
    assert labels == ["gauss [digit 3 -> 5]", "gauss [s-pair]"]


@pytest.mark.parametrize(
    "cost, message",
    [
        ({"preset": "s-pair", "dataset": "cifar10", "pairs": [[3, 5]]}, "give exactly one of preset"),
        ({"num_classes": 10, "pairs": [[3, 3]]}, "seed and target must differ"),
        ({"pairs": [[3, 5]]}, "needs a 'num_classes' key"),
        (
            {"num_classes": 10, "pairs": [[3, 5]], "dataset": "cifar10"},
            "'papers/xin2025/tables/digits/costs/0/dataset'",
        ),
        ({"preset": "multi2", "dataset": "imagenette"}, "unknown cost preset"),
    ],
)
def test_cost_errors_name_the_key(cost: dict[str, Any], message: str) -> None:
    cfg = raw()
    cfg["papers"]["xin2025"]["tables"]["digits"]["costs"] = [cost]
    with pytest.raises(ValueError, match=message):
        expand(cfg)
    if "dataset" not in message:
        with pytest.raises(ValueError, match="'papers/xin2025/tables/digits/costs/0'"):
            expand(cfg)


def test_merge_checks_the_declared_subset() -> None:
    cfg = raw()
    cfg["certify"]["gauss"]["examples"] = {"start": 10, "stop": 400, "skip": 3}
    plan = expand(cfg)
    key = plan.run_names["gauss"]
    assert shlex.split(commands.merge_checks(plan, key)) == [
        "--start",
        "10",
        "--stop",
        "400",
        "--skip",
        "3",
        "--expect-count",
        str(len(range(10, 400, 3))),
    ]
    assert commands.merge_checks(plan, plan.run_names["uniform"]) == ""


# ------------------------------------------------------------------------ summary
def fake_metrics(path: Path, values: dict[float, float], acr: float) -> None:
    rows = [("n_rows", "", 10.0), ("alpha", "", 0.001), ("acr", "", acr), ("clean_accuracy", "", values[0.0])]
    rows += [("certified_accuracy", r, v) for r, v in values.items()]
    rows += [("pa_ccdf", 0.5, 0.4)]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["metric", "param", "value"]).to_csv(path, index=False)


def test_summary_combines_runs_and_envelope(tmp_path: Path) -> None:
    cfg = raw()
    cfg["results"] = str(tmp_path / "res")
    del cfg["papers"]["yang2020"]["tables"]["sequential"]  # the summary of the digits table alone
    plan = expand(cfg)
    spec_text = commands.paper_tables_json(plan, Paths(plan.results), "yang2020")
    spec = json.loads(spec_text)
    assert [e["label"] for e in spec["entries"]] == ["uniform", "gauss"]
    fake_metrics(Path(spec["entries"][0]["path"]), {0.0: 0.5, 0.25: 0.4, 0.5: 0.1}, 0.2)
    fake_metrics(Path(spec["entries"][1]["path"]), {0.0: 0.6, 0.25: 0.3, 0.5: 0.2}, 0.3)
    spec_file = tmp_path / "tables.json"
    spec_file.write_text(spec_text)
    out_csv, out_md = tmp_path / "s.csv", tmp_path / "s.md"
    assert summary_cli.main(["--spec", str(spec_file), "--out-csv", str(out_csv), "--out-md", str(out_md)]) == 0
    table = pd.read_csv(out_csv)
    assert len(table) == 2 * 8
    assert set(table["run"]) == {"uniform", "gauss"} and set(table["noise"]) == {"uniform", "gaussian"}
    acr = table[table["metric"] == "acr"].set_index("run")["value"]
    assert acr.to_dict() == {"uniform": 0.2, "gauss": 0.3}
    md = out_md.read_text()
    assert "## yang2020 / digits" in md and "### Envelope" in md and "### pa_ccdf" in md
    assert "norm l1, alpha 0.001 (two-sided)" in md
    assert "noise space pixel: sigma and radii in [0, 1] pixel units" in md  # every table states its units
    assert "| uniform | 0.50 | **0.40** | 0.10 |" in md  # a valid GitHub table, column best in bold
    assert "<b>" not in md
    assert "| gaussian | 0.6000 | 0.3000 | 0.2000 |" in md


def test_summary_missing_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = raw()
    cfg["results"] = str(tmp_path / "res")
    plan = expand(cfg)
    spec_file = tmp_path / "tables.json"
    spec_file.write_text(commands.paper_tables_json(plan, Paths(plan.results), "cohen2019"))
    args = ["--spec", str(spec_file), "--out-csv", str(tmp_path / "a.csv"), "--out-md", str(tmp_path / "a.md")]
    assert summary_cli.main(args) == 2
    assert "cannot read metrics table" in capsys.readouterr().err
    assert not (tmp_path / "a.csv").exists()


# -------------------------------------------------------------------- prepare-data
def test_prepare_data_digits(tmp_path: Path) -> None:
    out = tmp_path / "d" / "digits.json"
    assert prepare_cli.main(["--name", "digits", "--root", str(tmp_path), "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["sizes"] == {"train": 1347, "test": 450}
    assert record["num_classes"] == 10 and record["input_shape"] == [1, 8, 8]


def test_prepare_data_missing_imagenet_is_a_clear_error(tmp_path: Path) -> None:
    args = ["--name", "imagenet", "--root", str(tmp_path / "nothing here"), "--out", str(tmp_path / "i.json")]
    result = subprocess.run(
        [sys.executable, "-m", "randsmooth", "prepare-data", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "nothing here" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "i.json").exists()


def test_describe_lists_names_and_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.chdir(tmp_path)  # works outside the repository root: the schema is found next to the config
    assert describe_cli.main(["--config", str(REPO / "config" / "ci.yaml")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "kind\tname\tkey\tpath"
    models = [line.split("\t") for line in lines if line.startswith("model\t")]
    assert {m[1] for m in models} == {"catrs", "gauss", "uniform"}
    assert all(m[3].endswith("/final.pt") for m in models)


# --------------------------------------------------------------- methods from the config
def test_named_cost_matrix_drives_training_and_tables() -> None:
    cfg = raw()
    cfg["costs"] = {"digit 3 -> 5": {"num_classes": 10, "pairs": [[3, 5, 1.0]]}}
    cfg["models"]["cs"] = {
        **cfg["models"]["gauss"],
        "method": {"name": "gaussian_cs", "params": {"cost": "digit 3 -> 5"}},
    }
    cfg["certify"]["cs"] = {**cfg["certify"]["gauss"], "model": "cs"}
    cfg["papers"]["xin2025"]["tables"]["digits"].update(runs=["gauss", "cs"], costs=["digit 3 -> 5"])
    plan = expand(cfg)
    model = plan.models[plan.model_names["cs"]]
    assert model.train_config["method"]["params"]["cost"] == {
        "num_classes": 10,
        "pairs": [[3, 5, 1.0]],
        "name": "digit 3 -> 5",
    }
    spec = next(e.variant.spec for e in plan.entries if e.run_name == "cs")
    assert spec["cost"] == model.train_config["method"]["params"]["cost"]  # one matrix for both
    other = copy.deepcopy(cfg)
    other["costs"]["digit 3 -> 5"]["pairs"] = [[3, 8, 1.0]]
    assert expand(other).model_names["cs"] != plan.model_names["cs"]  # the matrix is the model's identity
    cfg["models"]["cs"]["method"]["params"]["cost"] = "nope"
    with pytest.raises(ValueError, match=r"'models/cs/method/params/cost': unknown costs entry 'nope'"):
        expand(cfg)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"cost": {"num_classes": 10, "pairs": [[3, 12, 1.0]]}}, "models/cs/method"),
        ({"cost": {"num_classes": 10, "pairs": [[3, 5, -1.0]]}}, "models/cs/method"),
        ({"cost": {"num_classes": 10, "pairs": [[3, 5, 1.0]]}, "seed_weight": -1}, "seed_weight"),
    ],
)
def test_cost_sensitive_method_errors_name_the_key(params: dict[str, Any], message: str) -> None:
    cfg = raw()
    cfg["models"]["cs"] = {**cfg["models"]["gauss"], "method": {"name": "gaussian_cs", "params": params}}
    with pytest.raises(ValueError, match=message):
        expand(cfg)


def test_teacher_models_and_soft_targets() -> None:
    cfg = raw()
    plan = expand(cfg)
    paths = Paths(plan.results)
    catrs, gauss = plan.model_names["catrs"], plan.model_names["gauss"]
    soft = plan.models[catrs].soft_targets
    assert (soft.teacher_key, soft.samples, soft.seed) == (gauss, 20, 0)
    assert plan.models[catrs].train_config["method"]["params"]["teacher"] == gauss  # identity: the teacher's key
    assert paths.soft_targets_of(plan, catrs) == f"results/ci/soft_targets/{gauss}/n20_seed0.pt"
    assert shlex.split(commands.soft_targets_option(plan, paths, catrs)) == [
        "--soft-targets",
        paths.soft_targets_of(plan, catrs),
    ]
    assert commands.soft_targets_option(plan, paths, gauss) == "" and paths.soft_targets_of(plan, gauss) is None
    # another teacher recipe is another student
    cfg["recipes"]["tiny"]["seed"] = 3
    assert expand(cfg).model_names["catrs"] != catrs
    # a teacher only trained to teach is still trained
    cfg = raw()
    cfg["papers"]["cohen2019"]["enabled"] = cfg["papers"]["yang2020"]["enabled"] = False
    cfg["papers"]["xin2025"]["enabled"] = False
    cfg["papers"]["sun2025"]["tables"] = {"methods": cfg["papers"]["sun2025"]["tables"]["methods"]}
    plan = expand(cfg)
    assert set(plan.used_models()) == {plan.model_names["catrs"], plan.model_names["gauss"]}


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda m: m["method"]["params"].update(teacher="ghost"),
            r"'models/catrs/method/params/teacher': unknown models entry",
        ),
        (lambda m: m["method"]["params"].update(teacher="catrs"), r"model 'catrs' is its own teacher"),
        (lambda m: m["method"]["params"].pop("teacher"), r"'models/catrs/method/params/teacher'.*needs a teacher"),
        # consistency needs m >= 2 noisy copies: refused before any job, not when training starts
        (lambda m: m.update(recipe="tiny", method={"name": "consistency"}), r"'models/catrs/method'.*num_noise"),
    ],
)
def test_teacher_errors_name_the_key(change: Any, message: str) -> None:
    cfg = raw()
    change(cfg["models"]["catrs"])
    with pytest.raises(ValueError, match=message):
        expand(cfg)


# --------------------------------------------------------------------- cluster resources
def test_job_resources_come_from_the_most_specific_entry() -> None:
    from randsmooth.pipeline import resources

    cfg = raw()
    cfg["threads"] = 3
    cfg["resources"] = {
        "margin": 2.0,
        "default": {"train": {"mem_mb": 1000, "epoch_minutes": 1.0}, "certify": {"example_seconds": 6.0}},
        "digits": {"train": {"cpus": 6, "mem_mb": 2000}, "certify": {"example_seconds": 60.0}},
        "digits/digits_cnn": {"train": {"epoch_minutes": 5.0}},
    }
    plan = expand(cfg)
    gauss, catrs = plan.model_names["gauss"], plan.model_names["catrs"]
    job = resources.train_job(plan, gauss)  # 2 epochs x 5 min x 1 pass
    assert (job.cpus, job.mem(), job.mem(2), job.minutes) == (6, 2000, 4000, 10.0)
    assert (job.runtime(), job.runtime(3)) == (30, 60)  # 10 x margin 2 = 20 -> at least min_minutes 30; x3
    assert resources.train_job(plan, catrs).minutes == 2 * 5.0 * 2 * 3  # m = 2 copies x (2 passes + 1 attack step)
    run = resources.certify_job(plan, plan.run_names["gauss"])  # 150 examples / 2 shards x 2,020 samples
    assert (run.cpus, run.mem_mb) == (3, 16000)  # cpus: the config's threads; mem: the schema default
    assert run.minutes == pytest.approx(75 * 2020 / 100_100 * 60.0 / 60)
    soft = resources.soft_targets_job(plan, gauss, 20)  # 1,347 training images x 20 draws
    assert soft.minutes == pytest.approx(1347 * 20 / 100_100 * 60.0 / 60)
    cfg["resources"]["max_minutes"] = 45
    cfg["resources"]["digits/digits_cnn"]["train"]["epoch_minutes"] = 100.0
    assert resources.train_job(expand(cfg), gauss).runtime() == 45  # cut at the partition limit
    long = resources.train_job(expand(cfg), gauss)  # 2 epochs x 100 min x margin 2 = 400 min
    assert long.time_budget() == 45 - 5 and long.allocations() == 10  # a chain of 400 / 40 allocations
    assert long.mem(3) == long.mem(10) == 3 * 2000  # a chain's later allocations ask no more memory
    assert resources.train_job(plan, gauss).allocations() == 1
    # the reserve: 5 % of the wall time, 5 to 30 minutes, at most half of it
    assert [resources.time_budget(m) for m in (2880, 200, 60, 1)] == [2850, 190, 55, 0.5]


def test_unknown_subset_size_asks_for_the_longest_time() -> None:
    from randsmooth.pipeline.resources import JobResources

    limits = {"margin": 1.5, "min_minutes": 30, "max_minutes": 2880}
    assert JobResources(4, 16000, None, limits).runtime() == 2880
    assert JobResources(4, 16000, 100.0, limits).runtime(2) == 300


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda c: c["recipes"]["tiny"].update(workers=4),
            r"'models/\w+/recipe': 4 data-loader workers, but a training job of digits/digits_cnn has 1 CPUs",
        ),
        (lambda c: c.update(resources={"digits/resnet9000": {}}), r"'resources/digits/resnet9000': unknown arch"),
        (lambda c: c.update(resources={"mnist": {}}), r"config key 'resources/mnist' is not allowed"),
        (lambda c: c.update(resources={"digits": {"train": {"cpus": 0}}}), r"'resources/digits/train/cpus'"),
    ],
)
def test_resource_errors_name_the_key(change: Any, message: str) -> None:
    cfg = raw()
    change(cfg)
    with pytest.raises(ValueError, match=message):
        expand(cfg)
    cfg["resources"] = {"digits": {"train": {"cpus": 4}}}
    if "workers" in message:
        expand(cfg)  # enough CPUs for the workers


# --------------------------------------------------------------------- pre-trained starts
def test_a_pretrained_model_is_trained_first_and_starts_the_model() -> None:
    cfg = raw()
    cfg["models"]["pre"] = {**cfg["models"]["gauss"], "sigma": 0.5}
    cfg["models"]["gauss"]["pretrained"] = "pre"
    plan = expand(cfg)
    gauss, pre = plan.model_names["gauss"], plan.model_names["pre"]
    assert plan.models[gauss].pretrained == pre and pre in plan.used_models()
    paths = Paths(plan.results)
    assert shlex.split(commands.init_option(plan, paths, gauss)) == ["--init", paths.weights.format(model=pre)]
    assert commands.init_option(plan, paths, pre) == ""
    assert gauss != expand(raw()).model_names["gauss"]  # the start is part of the model's identity


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: m.update(pretrained="ghost"), r"'models/gauss/pretrained': unknown models entry 'ghost'"),
        (lambda m: m.update(pretrained="gauss"), r"'models/gauss/pretrained': model 'gauss' is its own pre-training"),
        (
            lambda m: [m.update(pretrained="uniform", checkpoint="x.pt"), m.pop("recipe")],
            r"'models/gauss/pretrained': a model with a checkpoint is not trained",
        ),
    ],
)
def test_pretrained_errors_name_the_key(change: Any, message: str) -> None:
    cfg = raw()
    change(cfg["models"]["gauss"])
    with pytest.raises(ValueError, match=message):
        expand(cfg)


def test_jobs_name_the_interpreter_the_same_way_whichever_alias_started_snakemake(tmp_path: Path) -> None:
    real = tmp_path / "python3.11"
    real.write_text("")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").symlink_to(real)
    alias = tmp_path / "bin" / "python3"
    alias.symlink_to(real)
    assert commands.interpreter(str(alias), str(tmp_path)) == str(tmp_path / "bin" / "python")
    other = tmp_path / "other"
    other.write_text("")
    assert commands.interpreter(str(other), str(tmp_path)) == str(other)  # another interpreter: itself
    assert commands.interpreter(str(other), str(tmp_path / "nowhere")) == str(other)  # no <prefix>/bin/python
