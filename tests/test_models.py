"""Architectures, the Normalize layer, checkpoints (ours, Cohen's and MACER's layouts) and device selection."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from randsmooth.device import select_device
from randsmooth.models import (
    REFERENCE_ARCH_DATASETS,
    Normalize,
    arch_names,
    build_model,
    create_model,
    load_checkpoint,
    load_model,
    save_checkpoint,
)

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def randomize_bn(model: nn.Module, seed: int = 0) -> None:
    """Give every BatchNorm non-trivial running statistics and affine parameters (so loading them matters)."""
    g = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            c = module.num_features
            module.running_mean.copy_(0.1 * torch.randn(c, generator=g))
            module.running_var.copy_(0.5 + torch.rand(c, generator=g))
            module.weight.data.copy_(1 + 0.1 * torch.randn(c, generator=g))
            module.bias.data.copy_(0.1 * torch.randn(c, generator=g))


def build(arch: str, num_classes: int = 10, channels: int = 3, mean=CIFAR_MEAN, std=CIFAR_STD) -> nn.Sequential:
    torch.manual_seed(0)
    return build_model(arch, num_classes=num_classes, in_channels=channels, mean=mean, std=std)


# ----------------------------------------------------------------------------------- architectures
@pytest.mark.parametrize(
    "arch, expected",
    [
        ("cifar_resnet110", 1_730_714),  # Cohen et al. 2019, reference test vectors
        ("cifar_resnet20", 272_474),
        ("cifar_resnet56", 855_770),  # Xin et al. 2025, reference test vectors: ~0.856M
        ("wrn40_2", 2_243_546),  # standard WRN-40-2 count for 10 classes
    ],
)
def test_cifar_parameter_counts(arch: str, expected: int) -> None:
    assert n_params(build(arch)) == expected


def test_ham_resnet_parameter_count_and_torchvision_models() -> None:
    ham = build("ham_resnet", num_classes=10, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    assert abs(n_params(ham) - 13.64e6) < 0.01e6  # Xin et al. 2025, reference test vectors
    assert sum(len(getattr(ham[1], f"layer{i}")) for i in (1, 2, 3)) == 27
    assert n_params(build("resnet50", num_classes=1000, mean=IMAGENET_MEAN, std=IMAGENET_STD)) == 25_557_032
    assert n_params(build("resnet18", num_classes=1000, mean=IMAGENET_MEAN, std=IMAGENET_STD)) == 11_689_512


def test_cifar_resnet110_key_layout_matches_reference() -> None:
    keys = list(build("cifar_resnet110").state_dict())
    assert keys[:3] == ["0.mean", "0.std", "1.conv1.weight"]
    for key in (
        "1.layer1.0.bn1.running_mean",
        "1.layer2.0.downsample.0.weight",
        "1.layer3.17.conv2.weight",
        "1.fc.weight",
        "1.fc.bias",
    ):
        assert key in keys
    assert "1.layer3.18.conv1.weight" not in keys  # 18 blocks per stage


@pytest.mark.parametrize(
    "arch, shape, classes",
    [
        ("cifar_resnet20", (2, 3, 32, 32), 10),
        ("wrn40_2", (2, 3, 32, 32), 10),
        ("digits_cnn", (2, 1, 8, 8), 10),
        ("digits_cnn", (2, 3, 32, 32), 10),
        ("cifar_resnet20", (2, 1, 8, 8), 10),
        ("resnet18", (2, 3, 64, 64), 7),
        ("ham_resnet", (1, 3, 64, 64), 2),
    ],
)
def test_forward_shapes(arch: str, shape: tuple[int, ...], classes: int) -> None:
    channels = shape[1]
    model = build(arch, num_classes=classes, channels=channels, mean=[0.5] * channels, std=[0.25] * channels)
    model.eval()
    with torch.no_grad():
        out = model(torch.rand(shape))
    assert out.shape == (shape[0], classes)
    assert torch.isfinite(out).all()


def test_digits_cnn_is_small() -> None:
    assert 1_000 < n_params(build("digits_cnn", channels=1, mean=[0.5], std=[0.3])) < 100_000
    assert n_params(build("digits_cnn", channels=3)) < 100_000


def test_build_model_errors() -> None:
    with pytest.raises(ValueError, match="unknown architecture 'nope'"):
        build_model("nope", num_classes=10, in_channels=3, mean=CIFAR_MEAN, std=CIFAR_STD)
    with pytest.raises(ValueError, match="num_classes"):
        build_model("digits_cnn", num_classes=1, in_channels=3, mean=CIFAR_MEAN, std=CIFAR_STD)
    with pytest.raises(ValueError, match="mean/std"):
        build_model("digits_cnn", num_classes=10, in_channels=1, mean=CIFAR_MEAN, std=CIFAR_STD)
    with pytest.raises(ValueError, match="does not accept parameters"):
        build_model("cifar_resnet20", num_classes=10, in_channels=3, mean=CIFAR_MEAN, std=CIFAR_STD, width=3)
    assert {
        "cifar_resnet20",
        "cifar_resnet56",
        "cifar_resnet110",
        "wrn40_2",
        "resnet18",
        "resnet50",
        "ham_resnet",
        "digits_cnn",
    } <= set(arch_names())


def test_create_model_from_dataset_spec() -> None:
    pytest.importorskip("randsmooth.data")
    from randsmooth.data import dataset_spec

    spec = dataset_spec("digits")
    model = create_model("digits_cnn", spec)
    assert isinstance(model, nn.Sequential) and isinstance(model[0], Normalize)
    assert model[0].mean.tolist() == pytest.approx(list(spec.mean))
    assert model[1].fc.out_features == spec.num_classes
    by_name = create_model("digits_cnn", "digits", dataset_options={"upsample": True})
    assert by_name[0].mean.numel() == 3


def test_reference_constants_agree_with_data_module() -> None:
    pytest.importorskip("randsmooth.data")
    from randsmooth.data import dataset_spec

    for arch, (name, classes, mean, std) in REFERENCE_ARCH_DATASETS.items():
        spec = dataset_spec(name)
        assert (spec.num_classes, tuple(spec.mean), tuple(spec.std)) == (classes, mean, std), arch


# -------------------------------------------------------------------------------------- Normalize
def test_normalize_layer() -> None:
    layer = Normalize([0.5, 0.25], [0.5, 0.125])
    assert set(layer.state_dict()) == {"mean", "std"}
    x = torch.rand(3, 2, 4, 4)
    expected = torch.stack([(x[:, 0] - 0.5) / 0.5, (x[:, 1] - 0.25) / 0.125], dim=1)
    torch.testing.assert_close(layer(x), expected)
    with pytest.raises(ValueError, match="shape"):
        layer(torch.rand(3, 3, 4, 4))
    with pytest.raises(ValueError, match="std"):
        Normalize([0.5], [0.0])
    with pytest.raises(ValueError, match="equal length"):
        Normalize([0.5, 0.5], [0.5])


# ------------------------------------------------------------------------------------ checkpoints
def test_own_checkpoint_round_trip(tmp_path) -> None:
    model = build("digits_cnn", channels=1, mean=[0.3], std=[0.4])
    randomize_bn(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.rand(4, 1, 8, 8)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [2, 4])
    path = save_checkpoint(
        tmp_path / "ck.pt",
        model=model,
        arch="digits_cnn",
        dataset="digits",
        optimizer=opt,
        scheduler=sched,
        epoch=3,
        extra={"note": "x"},
        dataset_options={"upsample": False},
        rng={"torch_cpu": torch.get_rng_state()},
    )
    raw = torch.load(path, weights_only=True)  # plain containers only
    assert {
        "arch",
        "state_dict",
        "epoch",
        "optimizer",
        "scheduler",
        "dataset",
        "dataset_options",
        "rng",
        "randsmooth_version",
    } <= set(raw)
    assert raw["epoch"] == 3 and raw["arch"] == "digits_cnn" and "0.mean" in raw["state_dict"]
    assert not list(tmp_path.glob(".*.tmp"))  # no temp file left behind
    loaded, info = load_model(path)
    assert info["layout"] == "randsmooth" and info["dataset"] == "digits" and info["epoch"] == 3
    assert info["extra"] == {"note": "x"} and not loaded.training
    with pytest.raises(ValueError, match="checkpoint arch is 'digits_cnn' but arch='wrn40_2'"):
        load_model(path, arch="wrn40_2")
    model.eval()
    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def _cohen_state_dict(model: nn.Sequential, data_parallel: bool) -> dict[str, torch.Tensor]:
    """Cohen's published layout: no 0.mean/0.std, keys 1.* (CIFAR) or 1.module.* (ImageNet)."""
    prefix = "1.module." if data_parallel else "1."
    return {prefix + key: value.clone() for key, value in model[1].state_dict().items()}


def test_load_cohen_cifar_resnet110(tmp_path) -> None:
    source = build("cifar_resnet110", mean=CIFAR_MEAN, std=CIFAR_STD)
    randomize_bn(source, seed=1)
    state = _cohen_state_dict(source, data_parallel=False)
    assert not any(key.startswith("0.") for key in state) and "1.conv1.weight" in state
    opt = torch.optim.SGD(source.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    path = tmp_path / "checkpoint.pth.tar"
    torch.save({"epoch": 90, "arch": "cifar_resnet110", "state_dict": state, "optimizer": opt.state_dict()}, path)
    model, info = load_model(path)
    assert (info["layout"], info["arch"], info["dataset"], info["epoch"]) == ("cohen", "cifar_resnet110", "cifar10", 90)
    assert model[0].mean.tolist() == pytest.approx(CIFAR_MEAN) and model[0].std.tolist() == pytest.approx(CIFAR_STD)
    source.eval()
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x), rtol=0, atol=0)


def test_load_cohen_imagenet_resnet50_data_parallel_keys(tmp_path) -> None:
    source = build("resnet50", num_classes=1000, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    randomize_bn(source, seed=2)
    state = _cohen_state_dict(source, data_parallel=True)
    assert "1.module.conv1.weight" in state
    path = tmp_path / "checkpoint.pth.tar"
    torch.save({"epoch": 90, "arch": "resnet50", "state_dict": state}, path)
    model, info = load_model(path)
    assert (info["dataset"], info["num_classes"]) == ("imagenet", 1000)
    source.eval()
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(4))  # small input: fast, same weights
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x), rtol=0, atol=0)


def test_load_macer_layout_needs_arch(tmp_path) -> None:
    source = build("cifar_resnet20")
    randomize_bn(source, seed=5)
    path = tmp_path / "20.pth"
    torch.save({"net": _cohen_state_dict(source, data_parallel=False), "epoch": 20}, path)
    with pytest.raises(ValueError, match="pass arch="):
        load_model(path)
    with pytest.raises(ValueError, match="does not match architecture 'cifar_resnet56'"):
        load_model(path, arch="cifar_resnet56")
    model, info = load_model(path, arch="cifar_resnet20")
    assert (info["layout"], info["epoch"], info["dataset"]) == ("macer", 20, "cifar10")
    source.eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x), rtol=0, atol=0)


def test_load_macer_bare_keys_with_explicit_dataset(tmp_path) -> None:
    pytest.importorskip("randsmooth.data")
    from randsmooth.data import dataset_spec

    spec = dataset_spec("digits")
    source = build("digits_cnn", channels=1, mean=list(spec.mean), std=list(spec.std))
    path = tmp_path / "bare.pth"
    torch.save({"net": source[1].state_dict(), "epoch": 1}, path)
    with pytest.raises(ValueError, match="pass dataset="):
        load_model(path, arch="digits_cnn")
    model, info = load_model(path, arch="digits_cnn", dataset="digits")
    assert info["dataset"] == "digits"
    source.eval()
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x), rtol=0, atol=0)


def test_checkpoint_errors_name_the_file(tmp_path) -> None:
    missing = tmp_path / "missing.pt"
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_model(missing)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint\x00\x01")
    with pytest.raises(ValueError, match="garbage.pt: not a readable torch checkpoint"):
        load_model(garbage)
    model = build("digits_cnn", channels=1, mean=[0.3], std=[0.4])
    good = save_checkpoint(tmp_path / "good.pt", model=model, arch="digits_cnn", dataset="digits", epoch=1)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated.pt: not a readable torch checkpoint"):
        load_model(truncated)
    no_state = tmp_path / "nostate.pt"
    torch.save({"arch": "cifar_resnet20", "epoch": 3}, no_state)
    with pytest.raises(ValueError, match="nostate.pt: unrecognised checkpoint"):
        load_model(no_state)
    pickled = tmp_path / "pickled.pt"
    torch.save({"arch": "cifar_resnet20", "state_dict": {}, "obj": object.__new__(Normalize)}, pickled)
    with pytest.raises(ValueError, match="pickled.pt") as refused:
        load_checkpoint(pickled)  # weights_only=True refuses arbitrary objects
    message = str(refused.value)
    assert "never unpickled" in message and "weights_only" not in message.replace("weights_only=True", "")
    assert len(message.splitlines()) == 1
    wrong = tmp_path / "wrong.pt"
    torch.save({"arch": "cifar_resnet20", "state_dict": _cohen_state_dict(model, False)}, wrong)
    with pytest.raises(ValueError, match="wrong.pt: state dict does not match architecture 'cifar_resnet20'"):
        load_model(wrong)


def test_save_checkpoint_rejects_non_plain_objects(tmp_path) -> None:
    model = build("digits_cnn", channels=1, mean=[0.3], std=[0.4])
    with pytest.raises(ValueError, match="only tensors and plain containers"):
        save_checkpoint(
            tmp_path / "x.pt", model=model, arch="digits_cnn", dataset="digits", epoch=0, extra={"bad": object()}
        )
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------------------- device
def test_select_device(monkeypatch: pytest.MonkeyPatch) -> None:
    assert select_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device("auto") == torch.device("cpu")
    assert select_device() == torch.device("cpu")
    with pytest.raises(
        RuntimeError, match="requests device 'cuda' but no CUDA device is visible; set device: cpu or auto"
    ):
        select_device("cuda")
    with pytest.raises(RuntimeError, match="'cuda:1'"):
        select_device("cuda:1")
    with pytest.raises(ValueError, match="device must be one of"):
        select_device("gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert select_device("auto") == torch.device("cuda")
    assert select_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(RuntimeError, match="only 2 CUDA"):
        select_device("cuda:2")


def test_load_pretrained_copies_the_network_but_not_a_classifier_of_another_size(tmp_path) -> None:
    """Fine-tuning from a pre-trained network (Yang et al.'s Imagenet32 -> CIFAR-10): every weight
    of the same shape is copied; the classifier and the Normalize constants stay the model's own."""
    from randsmooth.models import build_model, load_pretrained

    torch.manual_seed(0)
    source = build_model("digits_cnn", num_classes=5, in_channels=1, mean=[0.2], std=[0.5])
    save_checkpoint(tmp_path / "pre.pt", model=source, arch="digits_cnn", dataset="digits", epoch=1)
    torch.manual_seed(1)
    model = create_model("digits_cnn", "digits")  # 10 classes, the digits constants
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert load_pretrained(model, tmp_path / "pre.pt") == ["fc.bias", "fc.weight"]
    copied = source[1].state_dict()
    for key, value in model[1].state_dict().items():
        expected = before[f"1.{key}"] if key.startswith("fc.") else copied[key]
        assert torch.equal(value, expected), key
    assert torch.equal(model[0].mean, before["0.mean"]) and torch.equal(model[0].std, before["0.std"])
    other = build_model("cifar_resnet20", num_classes=10, in_channels=1, mean=[0.2], std=[0.5])
    save_checkpoint(tmp_path / "other.pt", model=other, arch="cifar_resnet20", dataset="digits", epoch=1)
    with pytest.raises(ValueError, match="other.pt: a network of another architecture"):
        load_pretrained(model, tmp_path / "other.pt")
