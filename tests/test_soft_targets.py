"""Soft targets (CAT-RS) and smoothed class counts: seeding, batch invariance, files and the command line."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from devices import needs_cuda
from randsmooth.cli import COMMANDS
from randsmooth.cli.soft_targets import main
from randsmooth.data import load_dataset
from randsmooth.sampling import get_noise
from randsmooth.soft_targets import compute_soft_targets, load_soft_targets, save_soft_targets, smoothed_counts
from randsmooth.train import train


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))


def dataset(n: int = 5) -> list[tuple[torch.Tensor, int]]:
    g = torch.Generator().manual_seed(2)
    return [(torch.rand(1, 8, 8, generator=g), i % 10) for i in range(n)]


def test_counts_do_not_depend_on_batch_size_order_or_subset() -> None:
    model, data, noise = tiny_model(), dataset(), get_noise("gaussian", 0.5, 64)
    model.train()
    full = smoothed_counts(model, data, noise, 300, seed=4, batch=1000, device="cpu")  # 300 samples: 3 noise blocks
    assert model.training  # mode restored
    assert full.shape == (5, 10) and (full.sum(1) == 300).all() and (full > 0).sum() > 5
    for batch in (1, 7, 128, 299):
        assert torch.equal(smoothed_counts(model, data, noise, 300, 4, batch, "cpu"), full)
    assert torch.equal(smoothed_counts(model, data, noise, 300, 4, 64, "cpu", indices=[3, 1]), full[[3, 1]])
    assert not torch.equal(smoothed_counts(model, data, noise, 300, 5, 64, "cpu"), full)
    targets = compute_soft_targets(model, data, noise, 300, 4, 50, "cpu")
    torch.testing.assert_close(targets, full.float() / 300)


@needs_cuda
def test_counts_on_cuda_are_batch_invariant_up_to_near_ties() -> None:
    model, data, noise = tiny_model().cuda(), dataset(), get_noise("gaussian", 0.5, 64)
    full = smoothed_counts(model, data, noise, 300, seed=4, batch=1000, device="cuda")
    assert full.device.type == "cpu" and full.shape == (5, 10) and (full.sum(1) == 300).all()
    for batch in (7, 299):  # cuBLAS may pick another kernel per batch size: a logit's last bit may change
        assert (smoothed_counts(model, data, noise, 300, 4, batch, "cuda") - full).abs().sum() <= 4


def test_files_round_trip_and_refuse_bad_content(tmp_path) -> None:
    targets = torch.softmax(torch.randn(6, 10), 1)
    path = save_soft_targets(tmp_path / "t.pt", targets, num_samples=100, seed=3)
    loaded = load_soft_targets(path, num_examples=6, num_classes=10)
    assert torch.equal(loaded.targets, targets) and (loaded.num_samples, loaded.seed) == (100, 3)
    assert set(torch.load(path, weights_only=True)) == {"soft_targets", "num_samples", "seed"}
    with pytest.raises(ValueError, match=r"t.pt: soft targets have shape \(6, 10\), expected \(7, 10\)"):
        load_soft_targets(path, num_examples=7, num_classes=10)
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    torch.save({"soft_targets": targets}, tmp_path / "keys.pt")
    torch.save(
        {"soft_targets": targets * 2, "num_samples": torch.tensor(1), "seed": torch.tensor(0)}, tmp_path / "s.pt"
    )
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:200])
    for name, message in [
        ("junk.pt", "not a readable soft-targets file"),
        ("truncated.pt", "not a readable soft-targets file"),
        ("keys.pt", "not a soft-targets file"),
        ("s.pt", "must sum to 1"),
    ]:
        with pytest.raises(ValueError, match=message) as info:
            load_soft_targets(tmp_path / name)
        assert str(info.value).startswith(str(tmp_path / name)) and "\n" not in str(info.value)
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_soft_targets(tmp_path / "nope.pt")


def test_command_line_teacher_to_catrs(tmp_path, capsys) -> None:
    assert COMMANDS["soft-targets"][0] == "soft_targets"
    cfg = {
        "dataset": {"name": "digits", "options": {"test_size": 0.9}},
        "model": {"arch": "digits_cnn", "params": {"width": 8}},
        "noise": {"name": "gaussian", "sigma": 0.25},
        "method": {"name": "gaussian"},
        "epochs": 1,
        "batch_size": 60,
        "optimizer": {"lr": 0.05},
        "schedule": {"name": "constant"},
        "device": "cpu",
        "workers": 0,
        "eval_examples": 20,
    }
    teacher = train(cfg, tmp_path / "teacher")
    out = tmp_path / "targets.pt"
    args = ["--checkpoint", str(teacher), "--out", str(out), "--num-samples", "20", "--seed", "1", "--device", "cpu"]
    assert main(args + ["--batch", "7"]) == 0
    loaded = load_soft_targets(out, num_examples=len(load_dataset("digits", "train", test_size=0.9)), num_classes=10)
    assert loaded.num_samples == 20 and loaded.seed == 1
    assert main(args[:3] + [str(tmp_path / "again.pt")] + args[4:] + ["--batch", "1000"]) == 0
    assert torch.equal(load_soft_targets(tmp_path / "again.pt").targets, loaded.targets)  # batch-invariant

    catrs = dict(cfg, method={"name": "catrs", "params": {"steps": 1, "teacher_samples": 20, "teacher_seed": 1}})
    catrs["num_noise"] = 2
    final = train(catrs, tmp_path / "catrs", soft_targets=out)
    assert torch.load(final, weights_only=True)["extra"]["method"]["name"] == "catrs"
    other = save_soft_targets(tmp_path / "other.pt", loaded.targets.roll(1, dims=0), 20, 1)
    with pytest.raises(ValueError, match="soft targets differ"):
        train(catrs, tmp_path / "catrs", soft_targets=other)

    capsys.readouterr()
    assert main(["--checkpoint", str(tmp_path / "missing.pt"), "--out", str(out)]) == 2
    assert main(args + ["--num-samples", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "missing.pt" in err[0] and "--num-samples must be >= 1" in err[1]
