"""Tests of randsmooth.data: digits, and tiny fakes of CIFAR-10, ImageNet, Imagenette and HAM10000
written in their real on-disk formats and loaded through the same code (offline, no GPU)."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from randsmooth.data import (
    ChecksumError,
    DatasetLayoutError,
    dataset_names,
    dataset_spec,
    default_data_dir,
    download_file,
    load_dataset,
    subset_indices,
)
from randsmooth.data.cifar import CIFAR10_MD5
from randsmooth.data.folders import IMAGENET_LAYOUT_HINT
from randsmooth.data.spec import IMAGENETTE_WNIDS
from randsmooth.data.transforms import RandomCrop, RandomResizedCrop, item_generator

# ----------------------------------------------------------------------------- fake builders


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def jpeg_bytes(width: int, height: int, color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="JPEG")
    return buf.getvalue()


def make_tar(source: Path, archive: Path, arcname: str) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname=arcname)
    return archive


def listing(root: Path) -> list[str]:
    """Every path under root (files and folders, hidden ones included), relative, sorted."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def write_cifar_batches(
    folder: Path, rng: np.random.Generator, *, per_batch: int = 4, n_test: int = 6, skip: tuple[str, ...] = ()
) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Real CIFAR-10 python format: pickled dicts with bytes keys b'data' (n x 3072 uint8), b'labels'."""
    folder.mkdir(parents=True)
    written = {}
    names = [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]
    for name in names:
        n = n_test if name == "test_batch" else per_batch
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n)]
        written[name] = (data, labels)
        if name in skip:
            continue
        entry = {
            b"batch_label": name.encode(),
            b"labels": labels,
            b"data": data,
            b"filenames": [f"img_{i}.png".encode() for i in range(n)],
        }
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
    meta = {
        b"label_names": [
            b"airplane",
            b"automobile",
            b"bird",
            b"cat",
            b"deer",
            b"dog",
            b"frog",
            b"horse",
            b"ship",
            b"truck",
        ],
        b"num_cases_per_batch": per_batch,
        b"num_vis": 3072,
    }
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return written


def fake_cifar_archive(tmp_path: Path, **kwargs) -> tuple[Path, dict]:
    src = tmp_path / "src"
    written = write_cifar_batches(src / "cifar-10-batches-py", np.random.default_rng(0), **kwargs)
    archive = make_tar(src / "cifar-10-batches-py", tmp_path / "fake-cifar.tar.gz", "cifar-10-batches-py")
    return archive, written


def build_image_tree(root: Path, classes: list[str], per_split: dict[str, int], size=(20, 14)) -> None:
    """<root>/{train,val}/<class>/<name>.JPEG, each class with its own colour."""
    for split, count in per_split.items():
        for k, name in enumerate(classes):
            data = jpeg_bytes(*size, (k % 256, (7 * k) % 256, 100))
            folder = root / split / name
            folder.mkdir(parents=True)
            for j in range(count):
                (folder / f"{split}_{k * count + j:08d}.JPEG").write_bytes(data)


HAM_LESIONS = [  # (lesion_id, dx, number of images)
    *[(f"HAM_{i:07d}", "nv", 1 + i % 3) for i in range(30)],
    *[(f"HAM_{100 + i:07d}", "mel", 1 + i % 2) for i in range(10)],
    *[(f"HAM_{200 + i:07d}", "bcc", 1 + i % 3) for i in range(6)],
    *[
        (f"HAM_{300 + i:07d}", dx, 2)
        for i, dx in enumerate(["bkl", "bkl", "akiec", "akiec", "df", "vasc", "bkl", "akiec", "df", "vasc"])
    ],
]


def build_ham(
    folder: Path, *, metadata_name: str = "HAM10000_metadata.csv", image_dir: str | None = None, missing_images: int = 3
) -> pd.DataFrame:
    """HAM-style metadata CSV + JPEGs (several per lesion) split over the two part folders."""
    rows = []
    n = 0
    for lesion, dx, count in HAM_LESIONS:
        for _ in range(count):
            rows.append(
                {
                    "lesion_id": lesion,
                    "image_id": f"ISIC_{n:07d}",
                    "dx": dx,
                    "dx_type": "histo",
                    "age": "50.0",
                    "sex": "male",
                    "localization": "back",
                }
            )
            n += 1
    table = pd.DataFrame(rows)
    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / metadata_name, index=False)
    data = jpeg_bytes(24, 18, (200, 120, 90))
    for i, image_id in enumerate(table["image_id"]):
        if i >= len(table) - missing_images:
            continue  # metadata rows without an image
        sub = image_dir or ("HAM10000_images_part_1" if i % 2 else "HAM10000_images_part_2")
        (folder / sub).mkdir(exist_ok=True)
        (folder / sub / f"{image_id}.jpg").write_bytes(data)
    return table.iloc[: len(table) - missing_images]


# ----------------------------------------------------------------------------- registry / spec


def test_names_specs_and_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert dataset_names() == ["digits", "cifar10", "imagenet", "imagenet32", "imagenette", "ham10000"]
    cifar = dataset_spec("cifar10")
    assert (cifar.num_classes, cifar.input_shape, cifar.dim) == (10, (3, 32, 32), 3072)
    assert cifar.mean == (0.4914, 0.4822, 0.4465) and cifar.std == (0.2023, 0.1994, 0.2010)
    assert cifar.class_names[3] == "cat" and cifar.class_names[5] == "dog"
    imagenet = dataset_spec("imagenet")
    assert imagenet.dim == 150528 and imagenet.num_classes == len(imagenet.class_names) == 1000
    assert imagenet.mean == (0.485, 0.456, 0.406) and imagenet.std == (0.229, 0.224, 0.225)
    nette = dataset_spec("imagenette")
    assert nette.input_shape == (3, 160, 160) and nette.class_names[7] == "gas pump"
    assert nette.class_names[2] == "cassette player" and nette.mean == imagenet.mean
    ham = dataset_spec("ham10000")
    assert ham.class_names == ("malignant", "benign") and ham.input_shape == (3, 299, 299)
    assert ham.std == imagenet.std
    with pytest.raises(ValueError, match="mnist"):
        dataset_spec("mnist")
    with pytest.raises(ValueError, match="mnist"):
        load_dataset("mnist", "train")
    with pytest.raises(ValueError, match="'valid'"):
        load_dataset("digits", "valid")
    with pytest.raises(ValueError, match="upsampel"):
        load_dataset("digits", "train", upsampel=True)
    with pytest.raises(ValueError, match="upsample"):
        dataset_spec("cifar10", upsample=True)
    with pytest.raises(ValueError, match="seed"):
        load_dataset("digits", "train", seed=-1)
    with pytest.raises(FrozenInstanceErrorType):
        cifar.name = "x"  # type: ignore[misc]
    monkeypatch.setenv("RANDSMOOTH_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path
    monkeypatch.delenv("RANDSMOOTH_DATA_DIR")
    assert default_data_dir() == Path("data")


FrozenInstanceErrorType = __import__("dataclasses").FrozenInstanceError


def test_subset_indices() -> None:
    cifar = subset_indices(10_000, skip=20)
    assert len(cifar) == 500 and cifar[:3] == [0, 20, 40] and cifar[-1] == 9980
    imagenet = subset_indices(50_000, skip=100)
    assert len(imagenet) == 500 and imagenet[-1] == 49_900
    assert [i // 50 for i in imagenet[:3]] == [0, 2, 4]
    assert subset_indices(10, skip=3, start=1) == [1, 4, 7]
    assert subset_indices(10, max_count=4) == [0, 1, 2, 3]
    assert subset_indices(0) == []
    for bad in ({"skip": 0}, {"start": -1}, {"max_count": -2}, {"skip": 1.5}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            subset_indices(10, **bad)


# ----------------------------------------------------------------------------- transforms


def test_random_resized_crop_params_respect_scale_and_ratio() -> None:
    op = RandomResizedCrop(160, scale=(0.35, 1.0))
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        top, left, h, w = op.params(120, 200, gen)
        assert 0 <= top <= 120 - h and 0 <= left <= 200 - w and h > 0 and w > 0
        area = h * w / (120 * 200)
        assert 0.35 * 0.95 <= area <= 1.0
        assert 3 / 4 * 0.9 <= w / h <= 4 / 3 * 1.1
    # extreme aspect ratio: the fallback central crop clamps the ratio to 4/3
    top, left, h, w = RandomResizedCrop(8, scale=(0.99, 1.0)).params(10, 1000, gen)
    assert (h, w, top) == (10, 13, 0) and left == (1000 - 13) // 2


def test_random_crop_is_a_zero_filled_shift_and_generators_are_reproducible() -> None:
    x = torch.rand(3, 8, 8)
    op = RandomCrop(8, padding=2)
    for seed in range(20):
        y = op(x, torch.Generator().manual_seed(seed))
        assert torch.equal(y, op(x, torch.Generator().manual_seed(seed)))
        assert any(torch.equal(y, _shift(x, dy, dx)) for dy in range(-2, 3) for dx in range(-2, 3))
    assert item_generator(0, None, 5) is None
    a = torch.rand(4, generator=item_generator(3, 1, 7))
    assert torch.equal(a, torch.rand(4, generator=item_generator(3, 1, 7)))
    assert not torch.equal(a, torch.rand(4, generator=item_generator(3, 2, 7)))
    assert not torch.equal(a, torch.rand(4, generator=item_generator(3, 1, 8)))


def test_eval_transforms_match_torchvision() -> None:
    from torchvision import transforms as T

    from randsmooth.data.folders import imagenet_transform, imagenette_transform
    from randsmooth.data.ham10000 import ham_transform

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, size=(450, 600, 3), dtype=np.uint8))
    for ours, size, crop in (
        (imagenet_transform(False), 256, 224),
        (imagenette_transform(False), 192, 160),
        (ham_transform(False), 299, 299),
    ):
        reference = T.Compose([T.Resize(size), T.CenterCrop(crop), T.ToTensor()])(img)
        assert torch.equal(ours(img), reference)
    for ours, size in ((imagenet_transform(True), 224), (imagenette_transform(True), 160), (ham_transform(True), 299)):
        out = ours(img, torch.Generator().manual_seed(1))
        assert out.shape == (3, size, size) and torch.equal(out, ours(img, torch.Generator().manual_seed(1)))


def _shift(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """x moved by (dy, dx) pixels, zero fill (the content at (i, j) comes from (i + dy, j + dx))."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    src = x[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)]
    out[..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)] = src
    return out


# ----------------------------------------------------------------------------- digits


def test_digits_split_shapes_range_stratification_and_partition() -> None:
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert (len(train), len(test)) == (1347, 450)
    x, y = train[0]
    assert x.dtype == torch.float32 and x.shape == (1, 8, 8) and isinstance(y, int)
    images = torch.cat([train.tensors[0], test.tensors[0]])
    assert images.min() >= 0 and images.max() == 1.0
    bunch = load_digits()
    counts = np.bincount(bunch.target)
    test_counts = np.bincount(test.targets, minlength=10)
    assert np.all(np.abs(test_counts - 0.25 * counts) <= 1)
    # train + test is a partition of the 1797 images (as a multiset of (image, label) rows)
    ours = np.concatenate(
        [images.reshape(len(images), -1).numpy(), np.array(train.targets + test.targets)[:, None]], axis=1
    )
    ref = np.concatenate([bunch.images.reshape(len(bunch.images), -1) / 16.0, bunch.target[:, None]], axis=1)
    np.testing.assert_allclose(
        np.unique(ours, axis=0, return_counts=True)[0], np.unique(ref, axis=0, return_counts=True)[0], atol=1e-7
    )
    assert len(ours) == len(ref) == 1797


def test_digits_determinism_and_seed() -> None:
    a, b = load_dataset("digits", "test", seed=3), load_dataset("digits", "test", seed=3)
    assert torch.equal(a.tensors[0], b.tensors[0]) and a.targets == b.targets
    c = load_dataset("digits", "test", seed=4)
    assert not torch.equal(a.tensors[0], c.tensors[0])


def test_digits_spec_matches_independent_training_statistics() -> None:
    bunch = load_digits()
    x_train, _ = train_test_split(bunch.images / 16.0, test_size=0.25, random_state=0, stratify=bunch.target)
    spec = dataset_spec("digits")
    assert spec.input_shape == (1, 8, 8) and spec.dim == 64
    assert spec.mean[0] == pytest.approx(x_train.mean(), abs=1e-6)
    assert spec.std[0] == pytest.approx(x_train.std(), abs=1e-6)
    assert dataset_spec("digits", seed=0) == spec and dataset_spec("digits", seed=1) != spec


def test_digits_upsample() -> None:
    spec = dataset_spec("digits", upsample=True)
    assert spec.input_shape == (3, 32, 32) and spec.dim == 3072 and len(spec.mean) == 3
    train = load_dataset("digits", "train", upsample=True, augment=False)
    x, _ = train[5]
    assert x.shape == spec.input_shape and torch.equal(x[0], x[1]) and torch.equal(x[0], x[2])
    stacked = train.tensors[0].double()
    assert stacked.min() >= 0 and stacked.max() <= 1
    assert spec.mean[0] == pytest.approx(float(stacked.mean()), abs=1e-6)
    assert spec.std[0] == pytest.approx(float(stacked.std(correction=0)), abs=1e-6)
    small = load_dataset("digits", "train", augment=False)
    # bilinear 4x upsampling roughly preserves the mean intensity of every image
    assert torch.allclose(stacked.mean(dim=(1, 2, 3)), small.tensors[0].double().mean(dim=(1, 2, 3)), atol=0.03)
    with pytest.raises(ValueError, match="upsample"):
        load_dataset("digits", "train", upsample="yes")


def test_digits_batches_through_a_dataloader() -> None:
    loader = torch.utils.data.DataLoader(
        load_dataset("digits", "train", upsample=True),
        batch_size=32,
        generator=torch.Generator().manual_seed(0),
        shuffle=True,
    )
    x, y = next(iter(loader))
    assert x.shape == (32, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64


def test_digits_augmentation_train_only_and_seeded_by_epoch() -> None:
    test = load_dataset("digits", "test")
    assert all(torch.equal(test[i][0], test.tensors[0][i]) for i in range(20))
    train = load_dataset("digits", "train", seed=0)
    train.set_epoch(0)
    first = [train[i][0] for i in range(30)]
    assert all(torch.equal(a, train[i][0]) for i, a in enumerate(first))
    raw = train.tensors[0]
    assert any(not torch.equal(first[i], raw[i]) for i in range(30))
    for i in range(30):  # a shift of at most 1 px, zero fill
        assert any(torch.equal(first[i], _shift(raw[i], dy, dx)) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    train.set_epoch(1)
    assert any(not torch.equal(first[i], train[i][0]) for i in range(30))
    with pytest.raises(ValueError, match="epoch"):
        train.set_epoch(-1)


# ----------------------------------------------------------------------------- download helper


def test_download_file_atomic_and_verified(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"randomized smoothing" * 1000)
    md5, sha = md5_of(src), hashlib.sha256(src.read_bytes()).hexdigest()
    out = tmp_path / "out"
    dest = download_file(src.as_uri(), out / "a.bin", md5=md5)
    assert dest.read_bytes() == src.read_bytes() and listing(out) == ["a.bin"]
    assert download_file(src.as_uri(), out / "b.bin", sha256=sha).read_bytes() == src.read_bytes()

    def no_network(*args, **kwargs):
        raise AssertionError("must not download an already verified file")

    assert download_file("http://unused", dest, md5=md5, opener=no_network) == dest

    with pytest.raises(ChecksumError, match=f"expected {'0' * 32}, got {md5}"):
        download_file(src.as_uri(), out / "c.bin", md5="0" * 32)
    assert listing(out) == ["a.bin", "b.bin"]
    with pytest.raises(ChecksumError, match="delete it"):
        download_file(src.as_uri(), dest, md5="1" * 32)
    assert dest.read_bytes() == src.read_bytes()
    with pytest.raises(ValueError, match="checksum"):
        download_file(src.as_uri(), out / "d.bin")


def test_download_interrupted_leaves_nothing(tmp_path: Path) -> None:
    class Broken(io.BytesIO):
        def read(self, n: int = -1) -> bytes:
            if self.tell() > 0:
                raise ConnectionResetError("connection dropped")
            return super().read(10)

    with pytest.raises(ConnectionResetError):
        download_file(
            "http://example.invalid/x", tmp_path / "x.bin", md5="0" * 32, opener=lambda url, timeout: Broken(b"x" * 100)
        )
    assert listing(tmp_path) == []


# ----------------------------------------------------------------------------- CIFAR-10


def test_cifar10_download_extract_and_load(tmp_path: Path) -> None:
    archive, written = fake_cifar_archive(tmp_path)
    root = tmp_path / "root"
    sums = {"archive": md5_of(archive)}
    test = load_dataset("cifar10", "test", root, download=True, url=archive.as_uri(), checksums=sums)
    assert (root / "cifar-10-python.tar.gz").is_file() and (root / "cifar-10-batches-py" / "test_batch").is_file()
    assert not [p for p in listing(root) if p.startswith(".")]
    data, labels = written["test_batch"]
    assert len(test) == 6 and test.targets == labels
    for i in range(len(test)):
        x, y = test[i]
        assert x.dtype == torch.float32 and x.shape == (3, 32, 32) and y == labels[i]
        expected = torch.from_numpy(data[i].reshape(3, 32, 32)).float() / 255
        assert torch.equal(x, expected)  # test: no augmentation, channel-major layout kept
    train = load_dataset("cifar10", "train", root, checksums=sums)  # already extracted: no download
    assert len(train) == 20
    assert train.targets == sum((written[f"data_batch_{k}"][1] for k in range(1, 6)), [])
    train.set_epoch(0)
    raw = [torch.from_numpy(train.data[i]).float() / 255 for i in range(len(train))]
    xs = [train[i][0] for i in range(len(train))]
    assert all(x.shape == (3, 32, 32) and 0 <= x.min() and x.max() <= 1 for x in xs)
    assert sum(not torch.equal(x, r) for x, r in zip(xs, raw, strict=True)) >= 10  # crop/flip applied on train
    unaugmented = load_dataset("cifar10", "train", root, checksums=sums, augment=False)
    assert torch.equal(unaugmented[3][0], raw[3])


def test_cifar10_local_archive_and_file_checksums(tmp_path: Path) -> None:
    archive, _ = fake_cifar_archive(tmp_path)
    root = tmp_path / "root"
    root.mkdir()
    (root / "cifar-10-python.tar.gz").write_bytes(archive.read_bytes())
    with pytest.raises(DatasetLayoutError, match="download=True"):
        load_dataset("cifar10", "test", tmp_path / "empty")
    ds = load_dataset("cifar10", "test", root, checksums={"archive": md5_of(archive)})  # no download needed
    assert len(ds) == 6
    sums = {"archive": md5_of(archive), "test_batch": "f" * 32}
    with pytest.raises(ChecksumError, match="test_batch"):
        load_dataset("cifar10", "test", root, checksums=sums)
    # the official table is the default: the fake files fail its per-file md5 check
    assert CIFAR10_MD5["archive"] == "c58f30108f718f92721af3b95e74349a"
    with pytest.raises(ChecksumError, match="40351d587109b95175f43aff81a1287e"):
        load_dataset("cifar10", "test", root)


def test_cifar10_wrong_checksum_leaves_nothing(tmp_path: Path) -> None:
    archive, _ = fake_cifar_archive(tmp_path)
    root = tmp_path / "root"
    with pytest.raises(ChecksumError, match=f"expected {'0' * 32}, got {md5_of(archive)}"):
        load_dataset("cifar10", "train", root, download=True, url=archive.as_uri(), checksums={"archive": "0" * 32})
    assert listing(root) == []  # neither archive, temp file nor extracted folder
    with pytest.raises(ChecksumError):  # the official md5 rejects the fake archive too
        load_dataset("cifar10", "train", root, download=True, url=archive.as_uri())
    assert listing(root) == []


def test_cifar10_malformed_layout(tmp_path: Path) -> None:
    archive, _ = fake_cifar_archive(tmp_path, skip=("data_batch_3",))
    root = tmp_path / "root"
    with pytest.raises(DatasetLayoutError, match="data_batch_3") as err:
        load_dataset(
            "cifar10", "train", root, download=True, url=archive.as_uri(), checksums={"archive": md5_of(archive)}
        )
    assert "expected <root>/cifar-10-batches-py" in str(err.value)
    assert listing(root) == ["cifar-10-python.tar.gz"]  # no half-extracted tree
    # an existing, incomplete folder is reported too (and not overwritten)
    write_cifar_batches(tmp_path / "r2" / "cifar-10-batches-py", np.random.default_rng(1), skip=("test_batch",))
    with pytest.raises(DatasetLayoutError, match="test_batch"):
        load_dataset("cifar10", "test", tmp_path / "r2", checksums={})
    bad = tmp_path / "r3" / "cifar-10-batches-py"
    write_cifar_batches(bad, np.random.default_rng(2))
    (bad / "test_batch").write_bytes(pickle.dumps({b"labels": [1]}))
    with pytest.raises(ValueError, match="'data'"):
        load_dataset("cifar10", "test", tmp_path / "r3", checksums={})


# ----------------------------------------------------------------------------- ImageNet (ImageFolder)


@pytest.fixture(scope="module")
def fake_imagenet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("imagenet-root")
    wnids = [f"n{k:08d}" for k in range(1000)]
    build_image_tree(root / "imagenet", wnids, {"train": 1, "val": 2}, size=(12, 10))
    return root


def test_imagenet_imagefolder_order_and_transforms(fake_imagenet: Path) -> None:
    val = load_dataset("imagenet", "test", fake_imagenet)
    assert len(val) == 2000 and val.targets == [i // 2 for i in range(2000)]
    assert Path(val.samples[3][0]).parent.name == "n00000001"
    x, y = val[1999]
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32 and y == 999
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    # the same folder reached directly (root = the folder holding train/ and val/)
    train = load_dataset("imagenet", "train", fake_imagenet / "imagenet")
    assert len(train) == 1000 and train[10][0].shape == (3, 224, 224) and train[10][1] == 10


def test_imagenet_layout_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="valprep"):
        load_dataset("imagenet", "test", tmp_path)
    root = tmp_path / "a"
    build_image_tree(root, ["n1", "n2"], {"train": 1})
    (root / "val").mkdir()
    for i in range(3):
        (root / "val" / f"ILSVRC2012_val_{i:08d}.JPEG").write_bytes(jpeg_bytes(8, 8, (0, 0, 0)))
    with pytest.raises(DatasetLayoutError, match="3 loose image files") as err:
        load_dataset("imagenet", "test", root)
    assert "val/<wnid>/*.JPEG (run the standard valprep script" in str(err.value)
    assert IMAGENET_LAYOUT_HINT.startswith("expected <root>/train/<wnid>/*.JPEG")
    other = tmp_path / "b"
    build_image_tree(other, ["n1", "n2"], {"train": 1})
    build_image_tree(other, ["n1", "n3"], {"val": 1})
    with pytest.raises(DatasetLayoutError, match="different class folders"):
        load_dataset("imagenet", "train", other)
    few = tmp_path / "c"
    build_image_tree(few, ["n1", "n2"], {"train": 1, "val": 1})
    with pytest.raises(DatasetLayoutError, match="found 2 class folders, expected 1000"):
        load_dataset("imagenet", "train", few)


# ----------------------------------------------------------------------------- Imagenette (archive)


def fake_imagenette_archive(tmp_path: Path, *, drop_val_class: bool = False) -> Path:
    src = tmp_path / "src" / "imagenette2-160"
    build_image_tree(src, list(IMAGENETTE_WNIDS), {"train": 2, "val": 1}, size=(40, 30))
    if drop_val_class:
        for f in (src / "val" / IMAGENETTE_WNIDS[4]).iterdir():
            f.unlink()
    return make_tar(src, tmp_path / "imagenette2-160.tgz", "imagenette2-160")


def test_imagenette_download_and_load(tmp_path: Path) -> None:
    archive = fake_imagenette_archive(tmp_path)
    root = tmp_path / "root"
    opts = {"url": archive.as_uri(), "md5": md5_of(archive)}
    val = load_dataset("imagenette", "test", root, download=True, **opts)
    assert (root / "imagenette2-160" / "val").is_dir() and (root / "imagenette2-160.tgz").is_file()
    assert len(val) == 10 and val.targets == list(range(10))
    assert Path(val.samples[7][0]).parent.name == "n03425413"  # gas pump = label 7
    x, y = val[7]
    assert x.shape == (3, 160, 160) and y == 7 and 0 <= float(x.min()) and float(x.max()) <= 1
    direct = load_dataset("imagenette", "test", root / "imagenette2-160")  # root = the extracted folder
    assert direct.samples == val.samples
    train = load_dataset("imagenette", "train", root, **opts)
    assert len(train) == 20 and train.targets == [i // 2 for i in range(20)]
    train.set_epoch(2)
    a = train[0][0]
    assert a.shape == (3, 160, 160) and torch.equal(a, train[0][0])
    assert not [p for p in listing(root) if p.startswith(".")]


def test_imagenette_wrong_checksum_and_bad_archive(tmp_path: Path) -> None:
    archive = fake_imagenette_archive(tmp_path)
    root = tmp_path / "root"
    with pytest.raises(ChecksumError, match="e793b78cc4c9e9a4ccc0c1155377a412"):  # the official md5
        load_dataset("imagenette", "train", root, download=True, url=archive.as_uri())
    assert listing(root) == []
    bad = fake_imagenette_archive(tmp_path / "bad", drop_val_class=True)
    with pytest.raises(DatasetLayoutError, match=IMAGENETTE_WNIDS[4]):
        load_dataset("imagenette", "train", root, download=True, url=bad.as_uri(), md5=md5_of(bad))
    assert listing(root) == ["imagenette2-160.tgz"]  # verified archive kept, no (partial) tree


# ----------------------------------------------------------------------------- Imagenet32
def write_imagenet32(root: Path, sizes: dict[str, int]) -> dict[str, np.ndarray]:
    """Fake Imagenet32 .npz files (data: planar RGB rows, labels 1..1000) with the given row counts."""
    from randsmooth.data.imagenet32 import IMAGENET32_FILES

    rng = np.random.default_rng(0)
    written = {}
    for split, names in IMAGENET32_FILES.items():
        for name in names:
            path = root / "imagenet32" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            data = rng.integers(0, 256, (sizes[split], 3072), dtype=np.uint8)
            labels = rng.integers(1, 1001, sizes[split])
            np.savez(path, data=data, labels=labels.tolist(), mean=data.mean(axis=0))
            written[name] = data
    return written


def test_imagenet32_npz_batches(tmp_path: Path) -> None:
    written = write_imagenet32(tmp_path, {"train": 3, "test": 4})
    train = load_dataset("imagenet32", "train", tmp_path, augment=False)
    test = load_dataset("imagenet32", "test", tmp_path)
    assert (len(train), len(test)) == (30, 4)  # 10 training batches
    x, y = test[1]
    row = written["Imagenet32_val_npz/val_data.npz"][1]
    assert x.shape == (3, 32, 32) and torch.equal(x[1], torch.from_numpy(row[1024:2048].reshape(32, 32)) / 255.0)
    assert 0 <= y <= 999 and max(train.targets) <= 999
    spec = dataset_spec("imagenet32")
    assert (spec.num_classes, spec.input_shape, spec.mean) == (1000, (3, 32, 32), dataset_spec("imagenet").mean)
    augmented = load_dataset("imagenet32", "train", tmp_path)
    assert augmented[0][0].shape == (3, 32, 32)
    (tmp_path / "imagenet32" / "Imagenet32_val_npz" / "val_data.npz").unlink()
    with pytest.raises(DatasetLayoutError, match="Imagenet32 files missing: .*val_data.npz; download"):
        load_dataset("imagenet32", "test", tmp_path)


# ----------------------------------------------------------------------------- HAM10000


def test_ham_labels_grouped_split_and_manifest(tmp_path: Path) -> None:
    folder = tmp_path / "ham10000"
    table = build_ham(folder)
    train = load_dataset("ham10000", "train", tmp_path, augment=False)
    test = load_dataset("ham10000", "test", tmp_path)
    manifest = folder / "randsmooth_ham10000_split_seed1_k5_fold0.csv"  # default seed 1
    assert manifest.is_file() and not [p for p in listing(folder) if p.startswith(".")]  # no temp file
    stored = pd.read_csv(manifest, dtype=str)
    assert list(stored.columns) == ["image_id", "lesion_id", "dx", "label", "split"]
    assert sorted(stored.loc[stored["split"] == "test", "image_id"]) == sorted(test.records["image_id"])
    # label mapping: mel/bcc -> 0 malignant, everything else -> 1 benign
    for ds in (train, test):
        assert ds.targets == [0 if dx in ("mel", "bcc") else 1 for dx in ds.records["dx"]]
        assert ds.classes == ("malignant", "benign")
    # every image with a file is used exactly once; rows without an image dropped
    used = list(train.records["image_id"]) + list(test.records["image_id"])
    assert sorted(used) == sorted(table["image_id"]) and len(set(used)) == len(used)
    # grouped: no lesion on both sides
    assert not set(train.records["lesion_id"]) & set(test.records["lesion_id"])
    # (the reference's image-level split does leak lesions on the same data)
    ref_train, ref_test = train_test_split(
        table, test_size=0.2, random_state=1, stratify=[dx in ("mel", "bcc") for dx in table["dx"]]
    )
    assert set(ref_train["lesion_id"]) & set(ref_test["lesion_id"])
    # stratified and about 20 %
    n_lesions = len(set(table["lesion_id"]))
    assert 0.1 <= test.records["lesion_id"].nunique() / n_lesions <= 0.3
    overall = np.mean([dx in ("mel", "bcc") for dx in table["dx"]])
    assert abs(np.mean(np.array(test.targets) == 0) - overall) < 0.12
    assert len(test) > 0 and 0 in test.targets and 1 in test.targets
    x, y = test[0]
    assert x.shape == (3, 299, 299) and x.dtype == torch.float32 and y in (0, 1)
    assert torch.equal(x, test[0][0])  # test transform is deterministic
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    assert train[0][0].shape == (3, 299, 299)
    augmented = load_dataset("ham10000", "train", tmp_path)
    assert augmented[0][0].shape == (3, 299, 299)


def test_ham_image_split_is_the_reference_split(tmp_path: Path) -> None:
    """split_by: image is Xin et al.'s train_test_split(test_size=0.2, random_state=1, stratify=y) of
    the metadata rows (in file order) that have an image; lesions may leak, by design."""
    folder = tmp_path / "ham10000"
    table = build_ham(folder)
    test = load_dataset("ham10000", "test", tmp_path, split_by="image")
    train = load_dataset("ham10000", "train", tmp_path, split_by="image", augment=False)
    _, ref_test = train_test_split(
        table, test_size=0.2, random_state=1, stratify=[0 if dx in ("mel", "bcc") else 1 for dx in table["dx"]]
    )
    assert sorted(test.records["image_id"]) == sorted(ref_test["image_id"])
    assert len(train) + len(test) == len(table) and list(test.records["image_id"]) == sorted(ref_test["image_id"])
    assert (folder / "randsmooth_ham10000_split_image_seed1.csv").is_file()
    assert set(train.records["lesion_id"]) & set(test.records["lesion_id"])  # leaks, as the reference
    again = load_dataset("ham10000", "test", tmp_path, split_by="image")  # the stored manifest is reused
    assert list(again.records["image_id"]) == list(test.records["image_id"])
    for check in (dataset_spec, lambda name, **o: load_dataset(name, "test", tmp_path, **o)):
        with pytest.raises(ValueError, match=r"split_by must be one of \['lesion', 'image'\], got 'patient'"):
            check("ham10000", split_by="patient")


def test_ham_image_split_sizes_of_the_full_data_set() -> None:
    """The reference's split of the 10,015 HAM10000 images: 8012 / 2003, 325 malignant in test."""
    from randsmooth.data.ham10000 import build_manifest

    counts = {"nv": 6705, "mel": 1113, "bkl": 1099, "bcc": 514, "akiec": 327, "vasc": 142, "df": 115}
    dx = [d for d, n in counts.items() for _ in range(n)]
    ids = [f"ISIC_{i:07d}" for i in range(len(dx))]
    records = pd.DataFrame({"image_id": ids, "lesion_id": ids, "dx": dx})
    manifest = build_manifest(records, seed=1, n_splits=5, test_fold=0, split_by="image")
    test = manifest[manifest["split"] == "test"]
    assert (len(manifest) - len(test), len(test), int((test["label"] == 0).sum())) == (8012, 2003, 325)


def test_ham_expected_split_sizes_match_the_splits_of_the_full_data_set() -> None:
    """Wall times size HAM10000 on the full data set: the image-level split's expected sizes are
    exactly the manifest's (8012 / 2003), the lesion-grouped fold's within 1 % of it (one image
    per lesion here); the split sizes that check example subsets stay unknown (None)."""
    from randsmooth.data import expected_split_size, split_size
    from randsmooth.data.ham10000 import build_manifest

    counts = {"nv": 6705, "mel": 1113, "bkl": 1099, "bcc": 514, "akiec": 327, "vasc": 142, "df": 115}
    dx = [d for d, n in counts.items() for _ in range(n)]
    ids = [f"ISIC_{i:07d}" for i in range(len(dx))]
    records = pd.DataFrame({"image_id": ids, "lesion_id": ids, "dx": dx})
    for options in ({"split_by": "image"}, {}, {"n_splits": 4}):
        manifest = build_manifest(
            records,
            seed=1,
            n_splits=options.get("n_splits", 5),
            test_fold=0,
            split_by=options.get("split_by", "lesion"),
        )
        for split in ("train", "test"):
            real = int((manifest["split"] == split).sum())
            expected = expected_split_size("ham10000", split, **options)
            assert abs(expected - real) <= (0 if options.get("split_by") == "image" else 0.01 * real), (options, split)
            assert split_size("ham10000", split, **options) is None
    assert expected_split_size("ham10000", "test", split_by="image") == 2003
    assert expected_split_size("cifar10", "test") == 10_000 and expected_split_size("imagenet", "test", url="x") is None


def test_ham_determinism_seed_and_manifest_reuse(tmp_path: Path) -> None:
    build_ham(tmp_path / "a" / "ham10000")
    build_ham(tmp_path / "b" / "HAM10000", metadata_name="HAM10000_metadata", image_dir="data")
    a = load_dataset("ham10000", "test", tmp_path / "a", seed=5)
    b = load_dataset("ham10000", "test", tmp_path / "b", seed=5)  # extension-less CSV, images in data/
    assert list(a.records["image_id"]) == list(b.records["image_id"])
    c = load_dataset("ham10000", "test", tmp_path / "a", seed=6)
    assert list(a.records["image_id"]) != list(c.records["image_id"])
    # the stored manifest is reused: move one whole lesion to the other side by hand
    path = tmp_path / "a" / "ham10000" / "randsmooth_ham10000_split_seed5_k5_fold0.csv"
    stored = pd.read_csv(path, dtype=str)
    lesion = stored.loc[stored["split"] == "train", "lesion_id"].iloc[0]
    stored.loc[stored["lesion_id"] == lesion, "split"] = "test"
    stored.to_csv(path, index=False)
    again = load_dataset("ham10000", "test", tmp_path / "a", seed=5)
    assert lesion in set(again.records["lesion_id"]) and len(again) > len(a)
    # a manifest that leaks a lesion across the split is rejected
    counts = stored["lesion_id"].value_counts()
    multi = stored.loc[(stored["split"] == "test") & stored["lesion_id"].map(counts).gt(1), "lesion_id"].iloc[0]
    stored.loc[stored.index[stored["lesion_id"] == multi][0], "split"] = "train"
    stored.to_csv(path, index=False)
    with pytest.raises(ValueError, match="both train and test"):
        load_dataset("ham10000", "test", tmp_path / "a", seed=5)
    # a manifest that no longer matches the images is rejected, naming the fix
    path.unlink()
    load_dataset("ham10000", "test", tmp_path / "a", seed=5)
    (tmp_path / "a" / "ham10000" / "HAM10000_images_part_1" / "ISIC_0000001.jpg").unlink()
    with pytest.raises(ValueError, match="delete .*randsmooth_ham10000_split_seed5"):
        load_dataset("ham10000", "test", tmp_path / "a", seed=5)


def test_ham_input_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="HAM10000_metadata.csv"):
        load_dataset("ham10000", "train", tmp_path)
    folder = tmp_path / "ham10000"
    table = build_ham(folder)
    meta = pd.read_csv(folder / "HAM10000_metadata.csv")
    meta.drop(columns=["lesion_id"]).to_csv(folder / "HAM10000_metadata.csv", index=False)
    with pytest.raises(ValueError, match="missing column.*lesion_id"):
        load_dataset("ham10000", "train", tmp_path)
    meta.assign(dx="melanoma").to_csv(folder / "HAM10000_metadata.csv", index=False)
    with pytest.raises(ValueError, match="unknown dx code.*melanoma"):
        load_dataset("ham10000", "train", tmp_path)
    empty = tmp_path / "noimg" / "ham10000"
    empty.mkdir(parents=True)
    table.to_csv(empty / "HAM10000_metadata.csv", index=False)
    with pytest.raises(DatasetLayoutError, match="no HAM10000 image"):
        load_dataset("ham10000", "train", tmp_path / "noimg")
    build_ham(tmp_path / "ok" / "ham10000")
    with pytest.raises(ValueError, match="test_fold"):
        load_dataset("ham10000", "train", tmp_path / "ok", test_fold=5)
    with pytest.raises(ValueError, match="at least n_splits=100 lesions"):
        load_dataset("ham10000", "train", tmp_path / "ok", n_splits=100)
