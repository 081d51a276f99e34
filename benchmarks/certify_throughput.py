"""Certification throughput: bare forward vs the count engine (default and fast mode) vs a Cohen-style loop.

Not a test (``--quick`` is: a seconds-long smoke run on the CPU). For each model it measures, on the
same device and batch size, in one process, images per second of:

* **bare**: the model's forward pass alone on pre-made noisy batches of the engine's batch layout
  (``n0 + n`` images cut into full batches);
* **engine**: :meth:`randsmooth.engine.CountSampler.sample_example` in the default mode --
  counter-based noise on the device, forward, on-device counting, one copy back per example;
* **fast**: the same with ``fast=True`` (CUDA graphs of full batches; identical to engine on the CPU);
* **loop**: a per-example loop in the style of Cohen et al.'s ``Smooth._sample_noise`` (the image
  repeated to a batch, ``torch.randn_like`` noise, argmax, ``.cpu().numpy()`` and a Python counting
  loop per batch) for the same ``n0`` and ``n`` images.

Each method runs ``--repeats`` times, interleaved, after a warm-up, timed with CUDA synchronisation
around the measured call; the best (fastest) repetition is reported, the least affected by other
processes. ``s/ex@1e5`` extrapolates the engine's time per example to Cohen et al.'s n0 = 100,
n = 100,000.

    python benchmarks/certify_throughput.py [--device cpu|cuda] [--models digits_cnn,cifar_resnet20]
        [--repeats 3] [--threads 1] [--channels-last] [--autocast] [--compile] [--quick] [--clock process]
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from randsmooth.engine import CountSampler, SamplerConfig
from randsmooth.models import create_model
from randsmooth.sampling import get_noise


@dataclass(frozen=True)
class Case:
    """One benchmark row: ``n`` estimation samples on the GPU / the CPU / in ``--quick`` mode."""

    key: str
    arch: str
    dataset: str
    shape: tuple[int, int, int]
    batch: int
    n_gpu: int
    n_cpu: int
    n_quick: int
    batch_quick: int


CASES = [
    Case("digits_cnn", "digits_cnn", "digits", (1, 8, 8), 400, 40000, 8000, 400, 100),
    Case("cifar_resnet20", "cifar_resnet20", "cifar10", (3, 32, 32), 400, 10000, 1600, 60, 32),
    Case("cifar_resnet110", "cifar_resnet110", "cifar10", (3, 32, 32), 400, 4000, 300, 0, 0),
    Case("cifar_resnet110", "cifar_resnet110", "cifar10", (3, 32, 32), 1000, 4000, 300, 0, 0),
    Case("resnet50", "resnet50", "imagenet", (3, 224, 224), 400, 800, 40, 0, 0),
]
CPU_DEFAULT = "digits_cnn,cifar_resnet20"
# wall: elapsed time; process: this process's CPU time (steadier on a shared CPU machine, with --threads 1)
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "process": time.process_time}
N0 = 100
SIGMA = 0.25


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def bare_forward(model: torch.nn.Module, batches: list[torch.Tensor], autocast: bool, device: torch.device) -> None:
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.float16, enabled=autocast):
        for b in batches:
            model(b).argmax(1)


def loop_counts(model: torch.nn.Module, x: torch.Tensor, num: int, batch: int, num_classes: int) -> np.ndarray:
    """Per-example sampling loop written in the style of Cohen et al.'s reference code."""
    with torch.no_grad():
        counts = np.zeros(num_classes, dtype=int)
        remaining = num
        for _ in range(math.ceil(num / batch)):
            this_batch = min(batch, remaining)
            remaining -= this_batch
            repeated = x.repeat((this_batch, 1, 1, 1))
            noise = torch.randn_like(repeated) * SIGMA
            predictions = model(repeated + noise).argmax(1)
            for idx in predictions.cpu().numpy():
                counts[idx] += 1
        return counts


def measure(fn: Callable[[], object], device: torch.device, clock: Callable[[], float] = time.perf_counter) -> float:
    _sync(device)
    start = clock()
    fn()
    _sync(device)
    return clock() - start


def bench(case: Case, n: int, batch: int, args: argparse.Namespace, device: torch.device) -> dict[str, object]:
    torch.manual_seed(0)
    model = create_model(case.arch, case.dataset).to(device).eval()
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    num_classes = model.randsmooth_meta["num_classes"]
    dim = int(np.prod(case.shape))
    x = torch.rand(case.shape, generator=torch.Generator().manual_seed(1)).to(device)
    images = N0 + n
    sizes = [batch] * (images // batch) + ([images % batch] if images % batch else [])
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    batches = [(x + SIGMA * torch.randn(s, *case.shape, device=device)).contiguous(memory_format=fmt) for s in sizes]
    noise = get_noise("gaussian", SIGMA, dim)

    def sampler(fast: bool) -> CountSampler:
        config = SamplerConfig(
            n0=N0,
            n=n,
            batch=batch,
            channels_last=args.channels_last,
            autocast=args.autocast,
            compile=args.compile,
            fast=fast,
        )
        return CountSampler(model, noise, num_classes, device, config)

    engine, fast = sampler(False), sampler(True)
    methods = {
        "bare": lambda: bare_forward(model, batches, args.autocast, device),
        "engine": lambda: engine.sample_example(x, 0, 0),
        "fast": lambda: fast.sample_example(x, 0, 0),
        "loop": lambda: (loop_counts(model, x, N0, batch, num_classes), loop_counts(model, x, n, batch, num_classes)),
    }
    if args.autocast:
        del methods["loop"]  # the reference loop has no autocast
    for fn in methods.values():  # warm-up: allocator, kernel selection, Triton compilation, graph capture
        fn()
    best = {key: math.inf for key in methods}
    for _ in range(args.repeats):
        for key, fn in methods.items():
            best[key] = min(best[key], measure(fn, device, CLOCKS[args.clock]))
    rate = {key: images / t for key, t in best.items()}
    row: dict[str, object] = {"model": case.key, "batch": batch, "images": images, **rate}
    row["engine/bare"] = rate["engine"] / rate["bare"]
    row["fast/bare"] = rate["fast"] / rate["bare"]
    row["engine/loop"] = rate["engine"] / rate["loop"] if "loop" in rate else math.nan
    row["fast/loop"] = rate["fast"] / rate["loop"] if "loop" in rate else math.nan
    row["s/ex@1e5"] = (N0 + 100_000) / max(rate["engine"], rate["fast"])
    return row


def format_table(rows: list[dict[str, object]]) -> str:
    header = (
        f"{'model':<16} {'batch':>5} {'images':>6} {'bare':>9} {'engine':>9} {'fast':>9} {'loop':>9} "
        f"{'eng/bare':>8} {'fast/bare':>9} {'eng/loop':>8} {'fast/loop':>9} {'s/ex@1e5':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        loop = r.get("loop", math.nan)
        lines.append(
            f"{r['model']:<16} {r['batch']:>5} {r['images']:>6} {r['bare']:>9.0f} {r['engine']:>9.0f} "
            f"{r['fast']:>9.0f} {loop:>9.0f} {r['engine/bare']:>8.3f} {r['fast/bare']:>9.3f} "
            f"{r['engine/loop']:>8.2f} {r['fast/loop']:>9.2f} {r['s/ex@1e5']:>8.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument(
        "--models", default=None, help=f"comma-separated keys (default: all on CUDA, {CPU_DEFAULT} on the CPU)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions per method (default 3)")
    parser.add_argument("--channels-last", action="store_true", help="channels-last memory format everywhere")
    parser.add_argument("--autocast", action="store_true", help="CUDA float16 autocast (bare and engine; no loop)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model in the engine")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition: a smoke test (seconds)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall", help="wall (default) or process CPU time")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.quick:
        args.repeats = 1
    default = ",".join(dict.fromkeys(c.key for c in CASES)) if device.type == "cuda" else CPU_DEFAULT
    wanted = (args.models or default).split(",")
    unknown = sorted(set(wanted) - {c.key for c in CASES})
    if unknown:
        parser.error(f"unknown --models {unknown}; choose from {sorted({c.key for c in CASES})}")
    rows = []
    for case in CASES:
        if case.key not in wanted:
            continue
        if args.quick:
            if not case.n_quick:
                continue
            n, batch = case.n_quick, case.batch_quick
        else:
            n, batch = (case.n_gpu if device.type == "cuda" else case.n_cpu), case.batch
        rows.append(bench(case, n, batch, args, device))
        print(format_table(rows[-1:]).splitlines()[-1], flush=True)
    flags = [f for f in ("channels_last", "autocast", "compile", "quick") if getattr(args, f)]
    print(
        f"\ndevice={device} ({device_name(device)}) threads={torch.get_num_threads()} torch={torch.__version__} "
        f"repeats={args.repeats} (best of) clock={args.clock} n0={N0} sigma={SIGMA} flags={','.join(flags) or '-'}; "
        "throughput in images/s; fast = engine on the CPU (no CUDA graphs)"
    )
    print(format_table(rows))


if __name__ == "__main__":
    main()
