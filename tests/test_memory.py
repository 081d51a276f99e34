"""GPU memory known before running: the footprint table, micro-batches, certification batches,
plan-time errors and the GPU types a job asks sbatch for (randsmooth.pipeline.memory)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from randsmooth.pipeline import config, memory, resources
from randsmooth.pipeline.checks import data_module
from randsmooth.pipeline.plan import Plan

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "schema.yaml"
CONFIGS = [
    REPO / "config" / "config.yaml",
    REPO / "config" / "ci.yaml",
    *sorted((REPO / "config" / "papers").glob("*.yaml")),
]
LARGE = {"ham_resnet", "resnet18", "resnet50"}  # built at full size on the CPU first: about a second each


def plan_of(cfg: dict[str, Any]) -> Plan:
    return Plan(config.validate(copy.deepcopy(cfg), SCHEMA))


def ci() -> dict[str, Any]:
    return yaml.safe_load((REPO / "config" / "ci.yaml").read_text())


@pytest.mark.parametrize(
    "key",
    [pytest.param(k, marks=pytest.mark.slow) if k[0] in LARGE else k for k in memory.FOOTPRINTS],
    ids=lambda k: f"{k[0]}-{'x'.join(map(str, k[2:5]))}-{k[5]}",
)
def test_footprint_table_matches_a_new_measurement(key: tuple) -> None:
    """The table is what the meta-device probe measures now (benchmarks/memory_probe.py rewrites it)."""
    from randsmooth.models.footprint import measure

    found = measure(key[0], key[2:5], key[5], json.loads(key[1]))
    assert (found["params"], found["train_bytes"], found["eval_bytes"]) == memory.FOOTPRINTS[key]


def test_footprint_counts_each_saved_activation_once_per_image() -> None:
    """The digits CNN (8x8 inputs): doubling its width doubles the saved activations per image
    (every layer's channels double) and about quadruples the parameters."""
    from randsmooth.models.footprint import measure

    narrow = measure("digits_cnn", (1, 8, 8), 10, {"width": 8})
    wide = measure("digits_cnn", (1, 8, 8), 10, {"width": 16})
    assert wide["train_bytes"] == pytest.approx(2 * narrow["train_bytes"], rel=0.1)
    assert 3 * narrow["params"] < wide["params"] < 4 * narrow["params"]
    assert 0 < narrow["eval_bytes"] < narrow["train_bytes"]


def test_every_shipped_model_is_in_the_table() -> None:
    """Planning the shipped configs never needs the probe."""
    for path in CONFIGS:
        plan = Plan(config.load(path, SCHEMA))
        for model in plan.models.values():
            if model.arch is None or model.train_config is None:
                continue
            spec = data_module().dataset_spec(model.dataset.name, **model.dataset.loader_options())
            params = json.dumps(model.train_config["model"]["params"], sort_keys=True)
            assert (model.arch, params, *spec.input_shape, spec.num_classes) in memory.FOOTPRINTS, (path, model.key)


def test_training_peak_follows_the_formula() -> None:
    """OVERHEAD + 16 bytes per parameter + slack x images x m x held passes x saved bytes per image."""
    fp = (1000, 2**20, 2**18, 3 * 32 * 32 * 4)
    peak = memory.train_peak(fp, images=10, num_noise=4, held_passes=2)
    assert peak == memory.OVERHEAD + 16 * 1000 + memory.TRAIN_SLACK * 80 * 2**20
    assert memory.eval_peak(fp, 100) == memory.OVERHEAD + 4 * 1000 + 100 * (memory.EVAL_SLACK * 2**18 + 2 * 12288)


def test_micro_batches_are_the_fewest_that_fit() -> None:
    fp = (0, 2**30, 0, 0)  # 1 GiB saved per image and copy
    limit = memory.OVERHEAD + int(memory.TRAIN_SLACK * 8 * 2**30)  # 8 rows fit
    assert memory.micro_batches(fp, 8, 1, 1, limit, "w") == 1
    assert memory.micro_batches(fp, 64, 1, 1, limit, "w") == 8
    assert memory.micro_batches(fp, 65, 1, 1, limit, "w") == 9  # ceil(65 / 9) = 8 images
    assert memory.micro_batches(fp, 64, 4, 2, limit, "w") == 64  # 8 rows per image
    assert memory.micro_batches(fp, 64, 1, 1, None, "w") == 1  # no GPU memory declared
    with pytest.raises(ValueError, match=r"config key 'w': one training image \(16 noisy copies x 1 passes\)"):
        memory.micro_batches(fp, 64, 16, 1, limit, "w")


def test_ham10000_macer_is_split_in_two_on_80_gib() -> None:
    """Xin et al.'s HAM10000 MACER / Margin-CS: 64 images x 16 copies at 299 px, about 133 GiB in one
    step: two micro-batches of 32 images fit an 80 GiB GPU; a model that fits keeps its folder."""
    path = REPO / "config" / "papers" / "xin2025.yaml"
    plan = Plan(config.load(path, SCHEMA))
    ham = plan.models[plan.model_names["ham10000_macer_0.50"]]
    assert ham.train_config["micro_batches"] == 2
    assert resources.train_job(plan, ham.key).gpu_mb <= 80 * 1024
    raw = yaml.safe_load(path.read_text())
    raw["resources"]["gpu_memory_gb"] = None
    unlimited = plan_of(raw)
    assert unlimited.models[unlimited.model_names["ham10000_macer_0.50"]].train_config["micro_batches"] == 1
    assert resources.train_job(unlimited, unlimited.model_names["ham10000_macer_0.50"]).gpu_mb > 128 * 1024
    cifar = plan.model_names["cifar10_macer_0.50"]
    assert cifar == unlimited.model_names["cifar10_macer_0.50"]  # one micro-batch: same identity
    assert cifar in plan.models and plan.models[cifar].train_config["micro_batches"] == 1


def test_declared_memory_splits_steps_lowers_certification_batches_or_fails_at_plan_time() -> None:
    cfg = ci()
    base = plan_of(cfg)
    gauss = base.model_names["gauss"]
    fp = resources._footprint(base, gauss)
    # room for about 10 images of the digits CNN's training step, and 100 certification samples
    cfg["resources"] = {"gpu_memory_gb": (memory.train_peak(fp, 10, 1, 1) + 1) / memory.GIB}
    plan = plan_of(cfg)
    assert plan.models[plan.model_names["gauss"]].train_config["micro_batches"] == 7  # ceil(64 / 7) = 10
    assert plan.model_names["gauss"] != gauss  # split steps: another model (BatchNorm per micro-batch)
    batch = resources.certify_batch(plan, plan.run_names["gauss"])
    assert memory.eval_peak(fp, batch) <= memory.gpu_bytes(cfg["resources"]) < memory.eval_peak(fp, batch + 1)
    assert batch < 400 and resources.certify_batch(base, base.run_names["gauss"]) == 400
    cfg["resources"] = {"gpu_memory_gb": 1.0}  # less than the CUDA context itself
    with pytest.raises(
        ValueError, match=r"config key 'models/\w+/recipe': one training image .* resources/gpu_memory_gb = 1"
    ):
        plan_of(cfg)


def test_gpu_features_name_the_gpu_types_that_hold_each_job() -> None:
    cfg = ci()
    cfg["resources"] = {"gpu_memory_gb": 80, "gpu_features": {"v100_16g": 16, "a100_80g": 80, "tiny": 1}}
    plan = plan_of(cfg)
    job = resources.train_job(plan, plan.model_names["gauss"])
    assert job.constraint() == "v100_16g|a100_80g"
    cfg["resources"]["gpu_features"] = {"tiny": 1}
    with pytest.raises(
        ValueError, match=r"config key 'models/\w+/recipe': the job needs about 1.5 GiB .* \{'tiny': 1\}"
    ):
        plan_of(cfg)


@pytest.mark.slow
def test_cluster_requests_carry_the_memory_need(tmp_path: Path) -> None:
    """Dry run under the slurm profile: each GPU job carries gpu_mem_mb and, with gpu_features, the
    sbatch constraint; the certification command gets the batch that fits."""
    import subprocess
    import sys

    cfg = ci()
    cfg["results"] = str(tmp_path / "r")
    # the CUDA context and 5 MiB: the digits CNN trains in one step, certifies about 200 samples at once
    cfg["resources"] = {"gpu_memory_gb": 1.5 + 5 / 1024, "gpu_features": {"small": 1.51, "big": 80}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    command = [sys.executable, "-m", "snakemake", "-n", "-p", "--profile", "workflow/profiles/slurm"]
    result = subprocess.run([*command, "--configfile", str(path)], cwd=REPO, capture_output=True, text=True)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    jobs = [block for block in output.split("\nrule ")[1:] if block.startswith(("train:", "certify_shard:"))]
    assert jobs and all("gpu_mem_mb=" in b and "constraint=small|big" in b for b in jobs), output[-3000:]
    batch = resources.certify_batch(plan_of(cfg), plan_of(cfg).run_names["gauss"])
    assert batch < 400 and f"--batch {batch} " in output
