"""randsmooth.workflow_config: schema validation, content-addressed expansion, quoting, summaries.

Fast unit tests (no Snakemake run). The schema's enumerations are checked against the library's
registries, and every model of every shipped config is checked to produce a training config that
``randsmooth.train.resolve_config`` leaves unchanged (the workflow's defaults agree with the
trainer's).
"""

from __future__ import annotations

import copy
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from randsmooth import workflow_config as wfc
from randsmooth.workflow_config import Workflow, load_config, validate_config

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


def expand(config: dict[str, Any]) -> Workflow:
    return Workflow(validate_config(copy.deepcopy(config), SCHEMA))


# ------------------------------------------------------------------------------ schema
def test_shipped_configs_exist() -> None:
    names = {p.name for p in CONFIGS}
    assert {"config.yaml", "ci.yaml", "cohen2019.yaml", "yang2020.yaml", "sun2025.yaml", "xin2025.yaml"} <= names


def test_schema_enums_match_library_registries() -> None:
    from randsmooth.data import dataset_names
    from randsmooth.losses import loss_names
    from randsmooth.models import arch_names
    from randsmooth.sampling import noise_names

    schema = wfc.load_yaml(SCHEMA)
    defs = schema["$defs"]
    assert sorted(defs["dataset"]["properties"]["name"]["enum"]) == sorted(dataset_names())
    assert sorted(defs["model"]["properties"]["arch"]["enum"]) == sorted(arch_names())
    assert sorted(defs["noise_name"]["enum"]) == sorted(noise_names())
    assert sorted(defs["model"]["properties"]["method"]["properties"]["name"]["enum"]) == sorted(loss_names())
    assert sorted(defs["recipe"]["properties"]["schedule"]["properties"]["name"]["enum"]) == sorted(wfc.SCHEDULE_KEYS)


def test_schema_cost_presets_exist() -> None:
    from randsmooth.costs import preset_names

    schema = wfc.load_yaml(SCHEMA)
    presets = {name.split("/")[1] for name in preset_names()}
    assert set(schema["$defs"]["cost"]["properties"]["preset"]["enum"]) == presets


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_validates_and_expands(path: Path) -> None:
    wf = Workflow(load_config(path, SCHEMA))
    assert wf.final_targets() and wf.used_runs() and wf.used_models()
    for key in wf.used_runs():  # every shard's arguments can be built
        for shard in range(wf.run(key).shards):
            assert f"--shard {shard} " in wf.certify_args(key, shard)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_train_configs_are_fully_resolved(path: Path) -> None:
    """recipe.json holds every key of the trainer's config with the trainer's own defaults."""
    from randsmooth.train import resolve_config

    wf = Workflow(load_config(path, SCHEMA))
    for model in wf.models.values():
        if model.train_config is None:
            continue
        assert resolve_config(model.train_config) == model.train_config
        assert json.loads(wf.recipe_json(model.key)) == model.train_config


def test_defaults_are_filled_in() -> None:
    cfg = validate_config(raw(), SCHEMA)
    assert cfg["gpu"] == {"lock_dir": None, "devices": None, "wait_timeout": None}
    run = cfg["certify"]["gauss"]
    assert run["noise"] is None and run["batch"] == 400 and run["noise_block"] == 128
    assert run["examples"] == {"split": "test", "start": 0, "stop": None, "skip": 3}
    assert cfg["recipes"]["tiny"]["optimizer"]["momentum"] == 0.9
    assert cfg["papers"]["cohen2019"]["tables"]["l2"]["budgets"] == [None]


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda c: c.update(bogus=1), "bogus"),
        (lambda c: c["models"]["gauss"].update(arch="resnet9000"), "models/gauss/arch"),
        (lambda c: c["models"]["gauss"].pop("sigma"), "models/gauss"),
        (
            lambda c: c["recipes"]["tiny"]["optimizer"].update(weight_decay="1e-4"),
            "recipes/tiny/optimizer/weight_decay",
        ),
        (lambda c: c["certify"]["gauss"].update(n0=0), "certify/gauss/n0"),
        (lambda c: c["certify"]["gauss"]["examples"].update(splitt="test"), "certify/gauss/examples/splitt"),
        (lambda c: c.update(device="gpu"), "device"),
        (lambda c: c["papers"]["cohen2019"]["tables"]["l2"].update(norm="l3"), "papers/cohen2019/tables/l2/norm"),
    ],
)
def test_schema_errors_name_the_key(mutate: Any, key: str) -> None:
    cfg = raw()
    mutate(cfg)
    with pytest.raises(ValueError, match=f"config key '{key}'"):
        validate_config(cfg, SCHEMA)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c["certify"]["gauss"].update(model="nope"), r"'certify/gauss/model': unknown models entry 'nope'"),
        (lambda c: c["models"]["gauss"].update(dataset="mnist"), r"'models/gauss/dataset': unknown datasets entry"),
        (lambda c: c["models"]["gauss"].update(recipe="huge"), r"'models/gauss/recipe': unknown recipe 'huge'"),
        (
            lambda c: c["papers"]["cohen2019"]["tables"]["l2"].update(runs=["gauss", "ghost"]),
            r"'papers/cohen2019/tables/l2/runs': unknown certify entry 'ghost'",
        ),
        (
            lambda c: c["papers"]["sun2025"]["tables"]["budgets"].update(budgets=[500]),
            r"'papers/sun2025/tables/budgets/budgets': budget 500 is not a recorded prefix budget",
        ),
        (
            lambda c: c["certify"]["gauss"].update(shard_size=10, shards=None),
            r"'certify/gauss/shard_size' needs examples/stop",
        ),
        (lambda c: c["certify"]["gauss"].update(shard_size=10, shards=2), r"give shards or shard_size, not both"),
        (lambda c: c["certify"]["gauss"].update(examples={"stop": 4}, shards=5), r"5 shards for only 4 examples"),
        (
            lambda c: c["recipes"]["tiny"]["schedule"].update(step_size=3),
            r"'models/\w+/recipe/schedule/step_size' does not apply",
        ),
        (
            lambda c: c["recipes"]["tiny"].update(schedule={"name": "step"}),
            r"'models/\w+/recipe/schedule/step_size' is required",
        ),
        (
            lambda c: c["models"]["gauss"].update(sigma=0.0),
            r"'certify/gauss/sigma': model 'gauss' was trained without noise",
        ),
        (lambda c: c["models"]["gauss"].update(checkpoint="x.pt"), r"'models/gauss/recipe': a model with a checkpoint"),
        (lambda c: c.update(results="out/{x}"), r"config key 'results'"),
    ],
)
def test_semantic_errors_name_the_key(mutate: Any, message: str) -> None:
    cfg = raw()
    mutate(cfg)
    with pytest.raises(ValueError, match=message):
        expand(cfg)


# ------------------------------------------------------------------- content addressing
def test_identical_recipes_share_one_model_folder() -> None:
    cfg = raw()
    inline = copy.deepcopy(cfg["recipes"]["tiny"])
    inline["optimizer"].update(momentum=0.9, weight_decay=0.0001, name="sgd")  # = the defaults
    cfg["models"]["other name, same recipe"] = {**cfg["models"]["gauss"], "recipe": inline}
    cfg["certify"]["again"] = {**cfg["certify"]["gauss"], "model": "other name, same recipe", "alpha": 0.01}
    wf = expand(cfg)
    assert wf.model_names["gauss"] == wf.model_names["other name, same recipe"]
    assert wf.run_aliases["gauss"].run_key == wf.run_aliases["again"].run_key  # alpha is not sampling
    assert len(wf.models) == 2 and len(wf.runs) == 2


@pytest.mark.parametrize(
    "section, change, same",
    [
        ("recipe", lambda c: c["recipes"]["tiny"]["optimizer"].update(lr=0.01), False),
        ("recipe", lambda c: c["recipes"]["tiny"].update(seed=1), False),
        ("model", lambda c: c["models"]["gauss"].update(sigma=0.5), False),
        ("model", lambda c: c["models"]["gauss"]["arch_params"].update(width=9), False),
        ("dataset", lambda c: c["datasets"]["digits"].update(options={"upsample": True}), False),
        ("runtime", lambda c: c.update(device="cuda", threads=8), True),
        ("paths", lambda c: c.update(results="elsewhere", data_root="/other/data"), True),
    ],
)
def test_model_key_changes_with_the_recipe_only(section: str, change: Any, same: bool) -> None:
    before = expand(raw()).model_names["gauss"]
    cfg = raw()
    change(cfg)
    after = expand(cfg).model_names["gauss"]
    assert (before == after) is same, section


@pytest.mark.parametrize(
    "change, same",
    [
        (lambda r: r.update(n0=21), False),
        (lambda r: r.update(n=1000), False),
        (lambda r: r.update(seed=5), False),
        (lambda r: r.update(shards=3), False),
        (lambda r: r.update(sigma=0.5), False),
        (lambda r: r.update(alpha=0.01, two_sided=True), True),
        (lambda r: r.update(batch=17), True),
    ],
)
def test_run_key_changes_with_the_sampling_only(change: Any, same: bool) -> None:
    before = expand(raw()).run_aliases["gauss"].run_key
    cfg = raw()
    change(cfg["certify"]["gauss"])
    assert (expand(cfg).run_aliases["gauss"].run_key == before) is same


def test_default_config_deduplicates_shared_runs() -> None:
    wf = Workflow(load_config(REPO / "config" / "config.yaml", SCHEMA))
    assert wf.run_aliases["xin_gauss_0.50"].run_key == wf.run_aliases["cohen_0.50"].run_key
    assert wf.run_aliases["yang_gauss_0.50"].run_key != wf.run_aliases["cohen_0.50"].run_key  # n0 = 64
    assert len(wf.used_models()) == 9 and len(wf.used_runs()) == 15


def test_keys_are_path_safe_and_readable() -> None:
    wf = expand(raw())
    import re

    for key in [*wf.models, *wf.runs, *wf.datasets, *(v for _, v in wf.variants)]:
        assert re.fullmatch(wfc.KEY_PATTERN, key), key
    assert wf.model_names["gauss"].startswith("digits_digits_cnn_gaussian_gaussian_0.25-")


def test_same_dataset_with_two_roots_is_rejected() -> None:
    cfg = raw()
    cfg["datasets"]["again"] = {"name": "digits", "root": "/elsewhere"}
    with pytest.raises(ValueError, match="'datasets/again': the same data set as 'datasets/digits'"):
        expand(cfg)


# --------------------------------------------------------------------------- paths
def test_paths_under_results_folder() -> None:
    cfg = raw()
    cfg["results"] = "my results/x"
    wf = expand(cfg)
    key = wf.used_runs()[0]
    assert wf.path("shard", run=key, shard=1) == f"my results/x/certify/{key}/shards/1.parquet"
    assert wf.pattern("final") == "my results/x/models/{model}/final.pt"
    cfg["results"] = "."
    assert expand(cfg).pattern("summary_csv") == "summary.csv"


def test_targets_cover_every_enabled_paper() -> None:
    cfg = raw()
    cfg["papers"]["xin2025"]["enabled"] = False
    wf = expand(cfg)
    assert sorted(wf.papers) == ["cohen2019", "sun2025", "yang2020"]
    assert not any("xin2025" in t for t in wf.final_targets())
    assert not any("s-pair" in t for t in wf.metrics_targets())
    assert len(wf.metrics_targets()) == len(set(wf.metrics_targets()))


# ------------------------------------------------------------------------ quoting
def evil_config() -> dict[str, Any]:
    cfg = raw()
    cfg["data_root"] = EVIL
    cfg["gpu"] = {"lock_dir": EVIL}
    cfg["device"] = "auto"
    cfg["datasets"]["digits"]["options"] = {"test_size": 0.25}
    cfg["certify"]["gauss"]["noise_params"] = {}
    return cfg


def test_certify_args_survive_the_shell_verbatim(tmp_path: Path) -> None:
    wf = expand(evil_config())
    key = wf.run_aliases["gauss"].run_key
    args = wf.certify_args(key, 1)
    words = shlex.split(args)
    assert words[words.index("--data-root") + 1] == EVIL
    assert words[words.index("--dataset-option") + 1] == "test_size=0.25"
    # through a real shell: printed back word for word, nothing executed
    out = subprocess.run(
        ["bash", "-c", f"printf '%s\\n' {args}"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == words
    assert not list(tmp_path.iterdir()), "a command was injected"


def test_lease_prefix_and_other_args_are_quoted(tmp_path: Path) -> None:
    wf = expand(evil_config())
    lease = wf.lease_prefix("python")
    assert shlex.split(lease) == ["python", "-m", "randsmooth", "gpu-lease", "--lock-dir", EVIL, "--"]
    for args in (wf.prepare_args(wf.used_datasets()[0]), lease, wf.merge_args(wf.used_runs()[0])):
        subprocess.run(["bash", "-c", f"printf '%s\\n' {args}"], cwd=tmp_path, capture_output=True, check=True)
    assert not list(tmp_path.iterdir())
    cfg = evil_config()
    cfg["device"] = "cpu"
    assert expand(cfg).lease_prefix("python") == ""


def test_certify_and_metrics_args() -> None:
    wf = expand(raw())
    uniform = wf.run_aliases["uniform"].run_key
    words = shlex.split(wf.certify_args(uniform, 0))
    pairs = (
        dict(zip(words[::2], words[1::2], strict=True))
        if words[-1] != "--no-progress"
        else dict(zip(words[:-1:2], words[1:-1:2], strict=True))
    )
    assert pairs["--noise"] == "uniform" and pairs["--sigma"] == "0.5" and pairs["--n0"] == "64"
    assert pairs["--num-shards"] == "2" and pairs["--skip"] == "3" and pairs["--device"] == "cpu"
    assert "--stop" not in pairs
    with pytest.raises(ValueError, match="shard 2 .* has 2 shards"):
        wf.certify_args(uniform, 2)
    variants = [v for (r, _), v in wf.variants.items() if r == uniform]
    assert len(variants) == 1
    m = shlex.split(wf.metrics_args(uniform, variants[0].key))
    assert m[:5] == ["--alpha", "0.001", "--norm", "l1", "--two-sided"]
    preset = next(v for v in wf.variants.values() if v.cost is not None and v.cost_key is None)
    m = shlex.split(wf.metrics_args(preset.run_key, preset.key))
    assert m[m.index("--cost-preset") + 1] == "s-pair" and m[m.index("--cost-dataset") + 1] == "cifar10"
    assert m[m.index("--cs-mode") + 1] == "group" and "--legacy-alpha" not in m
    assert set(wf.metrics_inputs(preset.run_key, preset.key)) == {"table"}
    budget = next(v for v in wf.variants.values() if v.budget == 100)
    assert "--budget 100" in wf.metrics_args(budget.run_key, budget.key)


def test_free_form_cost_matrix_gets_a_file() -> None:
    from randsmooth.costs import from_config

    wf = expand(raw())
    custom = next(v for v in wf.variants.values() if v.cost_key is not None)
    path = wf.path("cost", cost=custom.cost_key)
    assert path.startswith("results/ci/costs/cost_digit-3-5-")
    m = shlex.split(wf.metrics_args(custom.run_key, custom.key))
    assert m[m.index("--cost-config") + 1] == path and "--cost-preset" not in m
    assert wf.metrics_inputs(custom.run_key, custom.key) == {
        "table": wf.path("counts", run=custom.run_key),
        "cost": path,
    }
    matrix = from_config(json.loads(wf.cost_json(custom.cost_key)))
    assert matrix.num_classes == 10 and matrix.matrix[3, 5] == 1.0 and matrix.matrix.sum() == 1.0
    labels = [e.label for e in wf.entries if e.paper == "xin2025"]
    assert labels == ["gauss [digit 3 -> 5]", "gauss [s-pair]"]


@pytest.mark.parametrize(
    "cost, message",
    [
        ({"preset": "s-pair", "dataset": "cifar10", "pairs": [[3, 5]]}, "give exactly one of preset"),
        ({"num_classes": 10, "pairs": [[3, 3]]}, "seed and target must differ"),
        ({"pairs": [[3, 5]]}, "needs a 'num_classes' key"),
        ({"num_classes": 10, "pairs": [[3, 5]], "dataset": "cifar10"}, "'papers/xin2025/tables/cost/costs/0/dataset'"),
        ({"preset": "multi2", "dataset": "imagenette"}, "unknown cost preset"),
    ],
)
def test_cost_errors_name_the_key(cost: dict[str, Any], message: str) -> None:
    cfg = raw()
    cfg["papers"]["xin2025"]["tables"]["cost"]["costs"] = [cost]
    with pytest.raises(ValueError, match=message):
        expand(cfg)
    if "dataset" not in message:
        with pytest.raises(ValueError, match="'papers/xin2025/tables/cost/costs/0'"):
            expand(cfg)


def test_merge_args_check_the_declared_subset() -> None:
    cfg = raw()
    cfg["certify"]["gauss"]["examples"] = {"start": 10, "stop": 400, "skip": 3}
    wf = expand(cfg)
    key = wf.run_aliases["gauss"].run_key
    assert shlex.split(wf.merge_args(key)) == [
        "--start",
        "10",
        "--stop",
        "400",
        "--skip",
        "3",
        "--expect-count",
        str(len(range(10, 400, 3))),
    ]
    assert wf.merge_args(wf.run_aliases["uniform"].run_key) == ""


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
    wf = expand(cfg)
    spec = json.loads(wf.summary_spec("yang2020"))
    assert [e["label"] for e in spec["entries"]] == ["uniform", "gauss"]
    fake_metrics(Path(spec["entries"][0]["path"]), {0.0: 0.5, 0.25: 0.4, 0.5: 0.1}, 0.2)
    fake_metrics(Path(spec["entries"][1]["path"]), {0.0: 0.6, 0.25: 0.3, 0.5: 0.2}, 0.3)
    out_csv, out_md = tmp_path / "s.csv", tmp_path / "s.md"
    assert wfc.main(["summary", "--spec", json.dumps(spec), "--out-csv", str(out_csv), "--out-md", str(out_md)]) == 0
    table = pd.read_csv(out_csv)
    assert len(table) == 2 * 8
    assert set(table["run"]) == {"uniform", "gauss"} and set(table["noise"]) == {"uniform", "gaussian"}
    acr = table[table["metric"] == "acr"].set_index("run")["value"]
    assert acr.to_dict() == {"uniform": 0.2, "gauss": 0.3}
    md = out_md.read_text()
    assert "## yang2020 / l1" in md and "### Envelope" in md and "### pa_ccdf" in md
    assert "<b> uniform </b>| 0.50 |0.40<b>*</b> |0.10 |" in md
    assert "| gaussian | 0.6000 | 0.3000 | 0.2000 |" in md


def test_summary_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    cfg = raw()
    cfg["results"] = str(tmp_path / "res")
    spec = expand(cfg).summary_spec("cohen2019")
    code = wfc.main(
        ["summary", "--spec", spec, "--out-csv", str(tmp_path / "a.csv"), "--out-md", str(tmp_path / "a.md")]
    )
    assert code == 2
    assert not (tmp_path / "a.csv").exists()


# -------------------------------------------------------------------- prepare-data
def test_prepare_data_digits(tmp_path: Path) -> None:
    out = tmp_path / "d" / "digits.json"
    assert wfc.main(["prepare-data", "--name", "digits", "--root", str(tmp_path), "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["sizes"] == {"train": 1347, "test": 450}
    assert record["num_classes"] == 10 and record["input_shape"] == [1, 8, 8]


def test_prepare_data_missing_imagenet_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "randsmooth.workflow_config",
            "prepare-data",
            "--name",
            "imagenet",
            "--root",
            str(tmp_path / "nothing here"),
            "--out",
            str(tmp_path / "i.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "nothing here" in result.stderr
    assert not (tmp_path / "i.json").exists()


def test_describe_lists_names_and_folders(capsys: pytest.CaptureFixture[str]) -> None:
    assert wfc.main(["describe", "--config", str(REPO / "config" / "ci.yaml"), "--schema", str(SCHEMA)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "kind\tname\tkey\tpath"
    models = [line.split("\t") for line in lines if line.startswith("model\t")]
    assert {m[1] for m in models} == {"gauss", "uniform"}
    assert all(m[3].endswith("/final.pt") for m in models)
