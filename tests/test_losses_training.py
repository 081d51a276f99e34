"""Every method through the one training loop: runs, fails early on bad settings, and resumes exactly."""

from __future__ import annotations

import csv

import pytest
import torch

from randsmooth import train as train_mod
from randsmooth.losses import loss_names
from randsmooth.soft_targets import save_soft_targets
from randsmooth.train import train

COST = {"preset": "s-seed", "dataset": "cifar10"}
FAST = {  # small attack budgets: this checks the wiring, not the methods' strength
    "gaussian": {},
    "stability": {},
    "smoothadv": {"steps": 2, "warmup": 1},
    "macer": {},
    "consistency": {},
    "smoothmix": {"steps": 2},
    "catrs": {"steps": 1, "teacher_samples": 8, "teacher_seed": 1},
    "sun2025": {"switch_epoch": 1, "discard_samples": 4, "reweight_samples": 16, "attack_steps": 1},
    "acr_discard": {"switch_epoch": 1, "discard_samples": 4},
    "acr_reweight": {"switch_epoch": 0, "reweight_samples": 16},
    "acr_adaptive_attack": {"switch_epoch": 0, "attack_steps": 1},
    "gaussian_cs": {"cost": COST},
    "smoothadv_cs": {"cost": COST, "steps": 2},
    "smoothmix_cs": {"cost": COST, "steps": 2},
    "margin_cs": {"cost": COST, "variant": "pairwise"},
}


def config(method: str, params: dict, **overrides) -> dict:
    cfg = {
        "dataset": {"name": "digits", "options": {"test_size": 0.9}},  # 179 training images
        "model": {"arch": "digits_cnn", "params": {"width": 8}},
        "noise": {"name": "gaussian", "sigma": 0.25},
        "method": {"name": method, "params": params},
        "epochs": 1,
        "batch_size": 60,
        "num_noise": 1 if method == "stability" else 2,
        "optimizer": {"name": "sgd", "lr": 0.05},
        "schedule": {"name": "constant"},
        "seed": 3,
        "device": "cpu",
        "workers": 0,
        "threads": 1,
        "eval_examples": 30,
        "test_batch_size": 256,
    }
    cfg.update(overrides)
    return cfg


def uniform_targets(path, n: int = 179, num_samples: int = 8, seed: int = 1):
    return save_soft_targets(path, torch.full((n, 10), 0.1), num_samples, seed)


def read_rows(path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_fast_settings_cover_every_method() -> None:
    assert set(FAST) == set(loss_names())


@pytest.mark.parametrize("method", sorted(FAST))
def test_every_method_trains_one_epoch(tmp_path, method: str) -> None:
    targets = uniform_targets(tmp_path / "targets.pt") if method == "catrs" else None
    epochs = 2 if method in ("sun2025", "acr_discard") else 1  # the strategies start at epoch 1
    final = train(config(method, FAST[method], epochs=epochs), tmp_path / "run", soft_targets=targets)
    row = read_rows(tmp_path / "run" / "log.csv")[-1]
    assert float(row["train_loss"]) > 0 and 0 <= float(row["train_acc"]) <= 1
    extra = torch.load(final, weights_only=True)["extra"]
    assert extra["method"]["name"] == method
    assert (extra["soft_targets_sha256"] is not None) == (method == "catrs")
    if method in ("sun2025", "acr_discard", "acr_reweight"):
        assert extra["loss_state"]  # the per-example state is in the checkpoint


@pytest.mark.parametrize(
    "method, params, overrides, message",
    [
        ("consistency", {}, {"num_noise": 1}, "'num_noise'"),
        ("gaussian_cs", {"cost": {"num_classes": 10, "pairs": [[3, 12, 1.0]]}}, {}, "method.params.cost"),
        ("gaussian_cs", {"cost": {"num_classes": 11, "pairs": [[3, 10, 1.0]]}}, {}, "method.params.cost"),
        ("margin_cs", {"cost": {"num_classes": 10, "pairs": [[3, 5, -2.0]]}}, {}, "method.params.cost"),
        ("smoothadv", {"epsilon": -1.0}, {}, "method.params.epsilon"),
        ("catrs", {}, {}, "needs soft targets"),
    ],
)
def test_bad_settings_fail_before_the_first_epoch(tmp_path, monkeypatch, method, params, overrides, message) -> None:
    def no_epochs(self, epoch):
        raise AssertionError("training started")

    monkeypatch.setattr(train_mod._Run, "run_epoch", no_epochs)
    with pytest.raises(ValueError, match=message) as info:
        train(config(method, params, **overrides), tmp_path)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "checkpoint.pt").exists()


def test_soft_targets_must_fit_the_method_and_the_training_set(tmp_path) -> None:
    with pytest.raises(ValueError, match="does not use them"):
        train(config("gaussian", {}), tmp_path / "a", soft_targets=uniform_targets(tmp_path / "t.pt"))
    with pytest.raises(ValueError, match=r"short.pt: soft targets have shape \(178, 10\), expected \(179, 10\)"):
        train(config("catrs", FAST["catrs"]), tmp_path / "b", soft_targets=uniform_targets(tmp_path / "short.pt", 178))
    with pytest.raises(ValueError, match="computed with 8 samples and seed 2"):
        train(config("catrs", FAST["catrs"]), tmp_path / "c", soft_targets=uniform_targets(tmp_path / "s.pt", seed=2))


class _Interrupt(Exception):
    pass


def test_resumed_sun2025_run_is_bit_identical(tmp_path, monkeypatch) -> None:
    """Killed after the discard epoch (epoch 1 of 0..2), resumed: same weights, state and log."""
    params = {
        "switch_epoch": 1,
        "discard_threshold": 0.5,
        "discard_samples": 16,
        "reweight_interval": 1,
        "reweight_samples": 16,
        "attack_steps": 1,
    }
    cfg = config("sun2025", params, epochs=3, batch_size=64, dataset={"name": "digits", "options": {"test_size": 0.5}})
    cfg["model"]["params"] = {}
    full = torch.load(train(cfg, tmp_path / "full"), weights_only=True)
    original = train_mod._Run.run_epoch

    def interrupted(self, epoch):
        if epoch == 2:
            raise _Interrupt
        return original(self, epoch)

    monkeypatch.setattr(train_mod._Run, "run_epoch", interrupted)
    with pytest.raises(_Interrupt):
        train(cfg, tmp_path / "part")
    monkeypatch.setattr(train_mod._Run, "run_epoch", original)
    stored = torch.load(tmp_path / "part" / "checkpoint.pt", weights_only=True)
    assert stored["epoch"] == 2 and {"keep", "p_hat", "weights"} <= set(stored["extra"]["loss_state"])
    resumed = torch.load(train(cfg, tmp_path / "part"), weights_only=True)

    keep = full["extra"]["loss_state"]["keep"]
    assert 0 < keep.sum() < keep.numel()  # some examples were discarded, some kept
    for key, value in full["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][key]), key
    for key, value in full["extra"]["loss_state"].items():
        assert torch.equal(value, resumed["extra"]["loss_state"][key]), key
    rows_a, rows_b = read_rows(tmp_path / "full" / "log.csv"), read_rows(tmp_path / "part" / "log.csv")
    for a, b in zip(rows_a, rows_b, strict=True):
        assert {k: v for k, v in a.items() if k != "time_s"} == {k: v for k, v in b.items() if k != "time_s"}
