"""``python -m randsmooth cost``: the GPU-hours of a config, per rule, target and paper table.

The expected numbers are computed here by hand from the configs (epochs x epoch minutes x passes;
examples x samples / 100,100 x seconds per example), independently of randsmooth.pipeline.
"""

from __future__ import annotations

import copy
import csv
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from randsmooth.cli import cost as cost_cli
from randsmooth.pipeline import config, resources
from randsmooth.pipeline.cost import bill, chain_warning, largest_jobs, target_jobs
from randsmooth.pipeline.plan import Plan

REPO = Path(__file__).resolve().parents[1]
CI = REPO / "config" / "ci.yaml"
COHEN = REPO / "config" / "papers" / "cohen2019.yaml"
XIN = REPO / "config" / "papers" / "xin2025.yaml"
UNIT = 100_100  # samples per example_seconds


@pytest.fixture(scope="module")
def ci_plan() -> Plan:
    return Plan(config.load(CI, config.schema_path(CI)))


@pytest.fixture(scope="module")
def cohen_plan() -> Plan:
    return Plan(config.load(COHEN, config.schema_path(COHEN)))


def line(lines: list, section: str, item: str):  # noqa: ANN201
    return next(x for x in lines if (x.section, x.item) == (section, item))


# ------------------------------------------------------------------------- the cost model
def train_config(method: str, num_noise: int, epochs: int, params: dict[str, Any]) -> dict[str, Any]:
    return {"method": {"name": method, "params": params}, "num_noise": num_noise, "epochs": epochs}


def passes(method: str, num_noise: int = 1, epochs: int = 10, **params: Any) -> float:
    return resources.training_passes(train_config(method, num_noise, epochs, params))


def test_training_passes_count_noisy_copies_forward_passes_and_attack_steps() -> None:
    """Per epoch: m copies x the passes of each copy per step (the loss's own forward passes),
    plus a third of a pass per forward-only estimation draw."""
    assert passes("gaussian") == 10
    assert passes("macer", num_noise=16) == 160
    assert passes("stability") == 20  # two noisy copies through the network (Yang et al.)
    assert passes("stability", variant="li") == 20  # the clean input and one noisy copy
    assert passes("smoothadv", num_noise=4, steps=10) == 10 * 4 * 11
    assert passes("smoothmix", num_noise=2, steps=4) == 10 * 2 * 6  # T steps + x_init + mixed pass
    # Sun et al.: 3 attack steps from E_t = 6 on; p_A from 100 draws at E_t and 16 draws every K = 2
    # epochs from E_t (epochs 6 and 8): 100 + 16 + 16 forward-only draws, a third of a pass each
    sun = passes("sun2025", num_noise=2, switch_epoch=6, reweight_interval=2)
    assert sun == pytest.approx(2 * (6 * 1 + 4 * 4) + (100 + 16 + 16) / 3)
    assert passes("acr_adaptive_attack", num_noise=2, switch_epoch=6) == 2 * (6 + 4 * 4)


def test_held_passes_of_the_methods_that_keep_two_forward_passes() -> None:
    """CAT-RS (the clean-noise and the attacked-noise pass), SmoothMix (x_init and the mixed input)
    and stability training (two inputs per copy) keep the activations of two forward passes of
    each noisy copy for their one backward; the others one (an attack step's activations are freed
    after the step)."""
    two = {"catrs", "smoothmix", "stability"}
    one = {"gaussian", "macer", "smoothadv", "consistency", "sun2025"}
    for method in sorted(one | two):
        params = {"teacher": "cohen"} if method.startswith("catrs") else {}
        assert resources.held_passes(train_config(method, 2, 3, params)) == (2 if method in two else 1), method


def test_ci_bill_by_rule_from_the_default_speeds(ci_plan: Plan) -> None:
    """CI config, schema defaults: 10 min per one-copy epoch, 60 s per 100,100 samples; digits has
    1,347 training and 450 test images."""
    lines = bill(ci_plan)
    # gauss, uniform: 2 epochs x 1 copy; catrs: 2 epochs x m = 2 x (2 passes + 1 attack step)
    train = (2 + 2 + 2 * 2 * 3) * 10 / 60
    soft = 1347 * 20 / UNIT * 60 / 3600  # the CAT-RS teacher's 20 draws per training image
    samples = 150 * 2020 + 150 * 2064 + 50 * 520 + 75 * 1020  # examples x (n0 + n) of the four runs
    samples += 150 * 2020  # the sequential gauss_seq, billed at its worst case (every example to max_n)
    certify = samples / UNIT * 60 / 3600
    assert line(lines, "rule", "train").gpu_hours == pytest.approx(train)
    assert line(lines, "rule", "soft_targets").gpu_hours == pytest.approx(soft)
    assert line(lines, "rule", "certify_shard").gpu_hours == pytest.approx(certify)
    assert [line(lines, "rule", r).jobs for r in ("train", "soft_targets", "certify_shard")] == [3, 1, 8]
    assert line(lines, "total", "all GPU jobs").gpu_hours == pytest.approx(train + soft + certify)
    assert line(lines, "target", "all").gpu_hours == pytest.approx(train + soft + certify)
    # CPUs: the config's threads (1) for every job
    assert line(lines, "total", "all GPU jobs").cpu_hours == pytest.approx(train + soft + certify)


def test_targets_need_their_runs_models_and_teachers_only(ci_plan: Plan) -> None:
    gauss_run = 150 * 2020 / UNIT / 60
    catrs_run = 50 * 520 / UNIT / 60
    # sun2025's ablation table certifies gauss and catrs: their training, the teacher's soft targets
    jobs = target_jobs(ci_plan, "sun2025_ablation")
    rules = sorted(rule for rule, _ in jobs)
    assert rules == ["certify_shard", "certify_shard", "soft_targets", "train", "train"]
    hours = sum(j.hours for j in jobs.values())
    assert hours == pytest.approx(gauss_run + catrs_run + 1347 * 20 / UNIT / 60 + (2 + 12) * 10 / 60)
    assert {j.rule for j in target_jobs(ci_plan, "train_all").values()} == {"train", "soft_targets"}
    assert target_jobs(ci_plan, "cohen2019_published_logs") == {}
    with pytest.raises(ValueError, match=r"unknown target 'cohen2019_tabel1'; expected one of \[.*'cohen2019'"):
        target_jobs(ci_plan, "cohen2019_tabel1")


def test_cohen2019_total_and_largest_jobs(cohen_plan: Plan) -> None:
    """Cohen et al.: 4 CIFAR-10 models x 90 epochs x 0.3 min, 3 ImageNet models x 90 x 60 min; 7
    CIFAR-10 runs of 500 images x 15 s and 5 ImageNet runs of 500 images x 150 s (n0 + n = 100,100),
    and the sequential CIFAR-10 run, billed at its worst case (every image to max_n)."""
    lines = bill(cohen_plan)
    train = (4 * 90 * 0.3 + 3 * 90 * 60) / 60
    certify = (8 * 500 * 15 + 5 * 500 * 150) / 3600
    assert line(lines, "rule", "train").gpu_hours == pytest.approx(train)
    assert line(lines, "rule", "certify_shard").gpu_hours == pytest.approx(certify)
    assert line(lines, "total", "all GPU jobs").gpu_hours == pytest.approx(train + certify)
    assert line(lines, "rule", "certify_shard").jobs == 8 * 10 + 5 * 20  # shards of 50 / 25 images
    # a table's line counts its own runs and models: the CIFAR-10 table, 7 runs of the 4 models
    assert line(lines, "table", "cohen2019/cifar10").gpu_hours == pytest.approx((4 * 27 + 7 * 500 * 15 / 60) / 60)
    # an artifact: the tables that build it; Table 1 reads the CIFAR-10 and ImageNet tables
    table1 = train + certify - 500 * 15 / 3600  # not the sequential run
    assert line(lines, "artifact", "cohen2019_table1").gpu_hours == pytest.approx(table1)
    assert not [x for x in lines if x.item == "cohen2019_radius_vs_pa"]  # analytic figure: no GPU job
    top = largest_jobs(cohen_plan, count=3)
    assert [(j.rule, j.where, j.hours) for j in top] == [("train", "imagenet/resnet50", 90.0)] * 3
    assert all(j.asked == 48.0 and j.allocations == 3 for j in top)  # 90 h x 1.5 over 48 h allocations


def test_chain_warning_names_the_longest_job_and_the_retries_it_needs(cohen_plan: Plan) -> None:
    """Cohen et al.'s ImageNet trainings: 90 h x margin 1.5 = 8,100 min, in allocations of 2,880
    min that train for 2,850 (less the 30 min reserve): 3 allocations, as the slurm profile's
    --retries 2 allows; --retries 1 is one short for each of the three."""
    assert chain_warning(cohen_plan, 2) is None
    line = chain_warning(cohen_plan, 1)
    assert line is not None and "\n" not in line
    assert re.fullmatch(
        r"warning: under SLURM, 3 GPU jobs need more allocations of resources/max_minutes 2880 min than "
        r"--retries 1 allows \(2\): the longest, train imagenet_\S+ \(imagenet/resnet50\), estimated 90\.0 h x "
        r"margin 1\.5, needs 3; run with --retries 2 .*",
        line,
    ), line


def test_chain_warning_at_a_one_minute_partition_limit(ci_plan: Plan) -> None:
    """CI config at max_minutes 1 (a 0.5 min time budget): CAT-RS's training, 2 epochs x 2 copies x
    3 passes x 10 min = 120 min x margin 1.5, needs 360 allocations; the four others fewer."""
    cfg = copy.deepcopy(dict(ci_plan.config))
    cfg["resources"] = {**cfg["resources"], "max_minutes": 1, "min_minutes": 1}
    line = chain_warning(Plan(cfg), 2)
    assert line is not None
    assert "GPU jobs need" in line and "the longest, train catrs (digits/digits_cnn), estimated 2.0 h" in line
    assert f"needs {math.ceil(120 * 1.5 / 0.5)}; run with --retries 359 " in line
    assert chain_warning(Plan(cfg), 359) is None


def test_ham10000_certification_is_sized_on_the_published_split() -> None:
    """Xin et al.'s HAM10000 runs certify the whole test split, 2,003 of the 10,015 images with the
    reference's image-level split (0.2 rounded up) and in the lesion-grouped fold (a fifth, rounded
    up): 420 s per example at n0 + n = 100,100, in 8 shards of at most 251 examples."""
    plan = Plan(config.load(XIN, config.schema_path(XIN)))
    jobs = target_jobs(plan, "all")
    for name in ("ham10000_gaussian_0.50", "ham10000_lesion_gaussian_0.50"):
        job = jobs[("certify_shard", plan.run_names[name])]
        assert job.hours == pytest.approx(2003 * 420 / 3600)
        assert job.longest == pytest.approx(251 * 420 / 3600)  # 29.3 h: within one 48 h allocation
        assert job.asked == math.ceil(251 * 420 / 60 * 1.5) / 60 and job.allocations == 1
    assert not [x for x in bill(plan) if x.unsized]  # every job of the paper is sized


def test_command_prints_the_table_and_writes_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bill.csv"
    assert cost_cli.main(["--config", str(COHEN), "cohen2019_certified_accuracy", "--csv", str(out)]) == 0
    text = capsys.readouterr().out
    assert "by rule" in text and "by paper table" in text and "largest job groups" in text
    assert "train imagenet_0.25 (imagenet/resnet50, 1 job): 90.0 h each, asks 48.0 h" in text
    rows = list(csv.DictReader(out.open()))
    total = next(r for r in rows if r["section"] == "total")
    assert float(total["gpu_hours"]) == pytest.approx(271.8 + (7 * 500 * 15 + 5 * 500 * 150) / 3600)


def test_command_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cost_cli.main(["--config", str(CI), "nothing_like_this"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unknown target 'nothing_like_this'")


def test_command_imports_no_torch_at_start_up() -> None:
    code = "import sys, randsmooth.cli.cost, randsmooth.pipeline.cost; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
