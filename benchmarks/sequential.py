"""Sequential certification on simulated Bernoulli streams: samples used vs fixed-N CERTIFY.

Not a test. For each p_A distribution it simulates ``--reps`` estimation streams per example (the
true p_A is the released lower bound ``p_lower`` of Cohen et al.'s CIFAR-10 logs, a conservative
stand-in: the real p_A is slightly larger; examples the log abstained on get p_A uniform in
``--abstain-range``), and compares on the *same* streams:

* **grid mode** against fixed-N CERTIFY at ``--n``: mean estimation samples as a share of N, the
  largest difference of certified accuracy (percentage points, mean over the replicates) at the
  grid radii 0, 0.25, 0.5, ... up to the cap ``max_radius(N, alpha, sigma)``, and the failure rate
  (streams whose certificate's p_lower exceeds the true p_A, i.e. a too-large radius);
* **fixed-radius mode** at every positive grid radius: N / mean samples and the share of examples
  whose decision (certified at r or not) equals fixed-N CERTIFY's.

Count tables of a results folder (``--results DIR``, optional) add one distribution per table:
p_A = the estimation count of the selected class / n, correct = selection argmax == label.

**The engine** (``--engine E``, 0 to skip): a tiny CNN trained in a few seconds on digits with
Gaussian noise (sigma ``--engine-sigma``), then the first E test examples certified twice with the
same sampler -- fixed N (``CountSampler.run``) and grid mode in rounds
(:func:`randsmooth.rounds.run_rounds`) -- printing the samples share, the wall-clock ratio and
their quotient (issue #22's target: wall clock <= 1.2 x samples share), and the certified accuracy
of both at the grid radii.

    python benchmarks/sequential.py [DATA_CSV] [--results DIR] [--n 100000] [--alpha 0.001]
        [--sigmas 0.25,0.5] [--bound cp|mixture] [--first 30] [--ratio 1.15] [--final-share 0.55]
        [--spend-power 2] [--futility-alpha 0.045] [--abstain-range 0.3,0.5] [--reps 20] [--seed 0]
        [--engine 100] [--engine-n 10000] [--engine-sigma 0.25] [--engine-batch 1000]
        [--engine-epochs 15]

The last line is ``sequential: samples X% of fixed N, certified accuracy within Y pp, failure rate
Z at alpha A`` (X the worst grid-mode share, Y the worst difference over all distributions).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from randsmooth import bounds, sequential
from randsmooth.counts.spec import SEQUENTIAL_DEFAULTS

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cohen2019_cifar10_released_radii.csv"


def grid(n: int, alpha: float, sigma: float, step: float = 0.25) -> np.ndarray:
    """Cohen et al.'s table radii 0, step, 2 step, ... up to the cap sigma*Phi^-1(alpha^(1/n))."""
    cap = float(bounds.max_radius(n, alpha, sigma))
    return np.arange(0.0, cap + 1e-12, step)


def distributions(args: argparse.Namespace) -> list[tuple[str, float, np.ndarray, np.ndarray]]:
    """(name, sigma, p_A per example, correct per example) for every distribution simulated."""
    table = pd.read_csv(args.data)
    rng = np.random.default_rng(args.seed + 1)
    out = []
    for sigma in args.sigmas:
        rows = table[np.isclose(table["sigma"], sigma)]
        if rows.empty:
            raise SystemExit(f"error: {args.data} has no rows with sigma = {sigma}")
        p = rows["p_lower"].to_numpy(dtype=np.float64)
        lo, hi = args.abstain_range
        p = np.where(np.isnan(p), rng.uniform(lo, hi, size=p.shape), p)
        out.append((f"cohen2019 cifar10 sigma={sigma}", sigma, p, rows["correct"].to_numpy() == 1))
    if args.results is not None:
        from randsmooth.counts import estimation_counts, read_table, selection_counts

        for path in sorted(Path(args.results).rglob("*.parquet")):
            try:
                t = read_table(path)
            except Exception:  # not a count table
                continue
            counts, n = estimation_counts(t, None)
            sel = np.argmax(selection_counts(t), axis=1)
            p = counts[np.arange(len(t)), sel] / n
            sigma = float(t["sigma"].iloc[0])
            out.append((str(path), sigma, p, sel == t["label"].to_numpy()))
    return out


def run(args: argparse.Namespace) -> None:
    from randsmooth.sampling import get_noise  # imports torch: after the argument checks

    worst_share, worst_pp, fails, streams = 0.0, 0.0, 0, 0
    for name, sigma, p_a, correct in distributions(args):
        noise = get_noise("gaussian", sigma, 3 * 32 * 32)
        radii = grid(args.n, args.alpha, sigma)
        thr = sequential.p_thresholds(noise, radii, "l2")
        opts = dict(bound=args.bound, first=args.first, ratio=args.ratio, final_share=args.final_share)
        opts["spend_power"] = args.spend_power
        opts["futility_alpha"] = args.futility_alpha
        rule = sequential.make_rule("grid", thr, args.n, args.alpha, **opts)
        dec, k_n = sequential.simulate(rule, p_a, args.reps, args.seed)
        fixed = np.asarray(bounds.cp_lower(k_n, args.n, args.alpha))[..., None] >= thr
        acc_seq = (dec.certified & correct[None, :, None]).mean(axis=1).mean(axis=0)
        acc_fix = (fixed & correct[None, :, None]).mean(axis=1).mean(axis=0)
        diff = 100 * np.abs(acc_seq - acc_fix)
        share = dec.samples.mean() / args.n
        fails += int((dec.p_lower > p_a[None, :]).sum())
        streams += dec.p_lower.size
        worst_share, worst_pp = max(worst_share, share), max(worst_pp, float(diff.max()))
        print(f"{name}: {len(p_a)} examples, {args.reps} reps, {rule.checkpoints.size} checkpoints")
        print(
            f"  grid mode  radii {np.round(radii, 3).tolist()}: samples {100 * share:.2f}% of N "
            f"(median {np.median(dec.samples):.0f}, 95th pct {np.percentile(dec.samples, 95):.0f})"
        )
        print(f"  certified accuracy seq {np.round(100 * acc_seq, 2).tolist()}")
        print(f"  certified accuracy N   {np.round(100 * acc_fix, 2).tolist()}  max diff {diff.max():.2f} pp")
        for r, t in zip(radii[1:], thr[1:], strict=True):
            rr = sequential.make_rule("radius", [t], args.n, args.alpha, **opts)
            d, k_r = sequential.simulate(rr, p_a, args.reps, args.seed)
            same = (d.certified[..., 0] == (np.asarray(bounds.cp_lower(k_r, args.n, args.alpha)) >= t)).mean()
            print(
                f"  radius mode r={r:.2f}: {args.n / d.samples.mean():.1f}x fewer samples, "
                f"same decision on {100 * same:.2f}% of streams"
            )
    if args.engine > 0:
        engine_run(args, opts)
    print(
        f"sequential: samples {100 * worst_share:.1f}% of fixed N, certified accuracy within {worst_pp:.2f} pp, "
        f"failure rate {fails / max(streams, 1):.2g} at alpha {args.alpha:g}"
    )


def train_digits(sigma: float, seed: int, device: str, epochs: int) -> "torch.nn.Module":  # noqa: F821
    """A digits CNN trained for ``epochs`` epochs with Gaussian noise augmentation (sigma, pixel units)."""
    import torch

    from randsmooth.data import load_dataset
    from randsmooth.models import create_model

    torch.manual_seed(seed)
    train = load_dataset("digits", "train", None, augment=False)
    xs = torch.stack([train[i][0] for i in range(len(train))]).to(device)
    ys = torch.as_tensor([train[i][1] for i in range(len(train))], device=device)
    model = create_model("digits_cnn", "digits").to(device)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(xs), device=device).split(64):
            loss = torch.nn.functional.cross_entropy(model(xs[idx] + sigma * torch.randn_like(xs[idx])), ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def engine_run(args: argparse.Namespace, opts: dict) -> None:
    """Fixed N vs grid mode on the real engine (digits): samples share and wall-clock ratio."""
    import time

    import torch

    from randsmooth.data import load_dataset
    from randsmooth.engine import CountSampler, SamplerConfig
    from randsmooth.rounds import run_rounds
    from randsmooth.sampling import get_noise

    device = "cuda" if torch.cuda.is_available() else "cpu"
    n, n0, sigma = args.engine_n, 100, args.engine_sigma
    model = train_digits(sigma, args.seed, device, args.engine_epochs)
    test = load_dataset("digits", "test", None, augment=False)
    indices = range(min(args.engine, len(test)))
    noise = get_noise("gaussian", sigma, 64)
    radii = grid(n, args.alpha, sigma)
    thr = sequential.p_thresholds(noise, radii, "l2")
    rule = sequential.make_rule("grid", thr, n, args.alpha, **opts)
    config = SamplerConfig(n0=n0, n=n, batch=args.engine_batch, seed=args.seed, prefix_budgets=tuple(rule.checkpoints))
    sampler = CountSampler(model, noise, 10, device, config)
    list(sampler.run(test, range(2)))  # warm-up (allocator, kernels)
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fixed = {r.idx: r for r in sampler.run(test, indices)}
    t_fixed = time.perf_counter() - start
    start = time.perf_counter()
    rounds = {r.idx: r for r in run_rounds(sampler, test, indices, rule)}
    t_seq = time.perf_counter() - start
    labels = np.asarray([test[i][1] for i in indices])
    sel = np.stack([fixed[i].counts_selection for i in indices])
    c_a = sel.argmax(axis=1)
    k_fix = np.asarray([fixed[i].counts_estimation[c] for i, c in zip(indices, c_a, strict=True)])
    cert_fix = np.asarray(bounds.cp_lower(k_fix, n, args.alpha))[:, None] >= thr
    c_a2, p_low, _, samples = sequential.certify_counts(
        rule, sel, [rounds[i].prefix_budgets for i in indices], [rounds[i].counts_prefix for i in indices]
    )
    assert (c_a2 == c_a).all()
    cert_seq = p_low[:, None] >= thr
    correct = (c_a == labels)[:, None]
    share = samples.mean() / n
    share_all = (n0 + samples.mean()) / (n0 + n)
    ratio = t_seq / t_fixed
    print(f"engine (digits, {len(indices)} examples, sigma {sigma}, N {n}, batch {args.engine_batch}, {device}):")
    print(
        f"  samples {100 * share:.2f}% of fixed N ({100 * share_all:.2f}% with the n0 selection samples); "
        f"wall clock {t_seq:.2f} s vs {t_fixed:.2f} s = {100 * ratio:.2f}%, {ratio / share_all:.2f}x the samples share"
    )
    print(f"  certified accuracy seq {np.round(100 * (cert_seq & correct).mean(axis=0), 2).tolist()}")
    print(f"  certified accuracy N   {np.round(100 * (cert_fix & correct).mean(axis=0), 2).tolist()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--alpha", type=float, default=0.001)
    parser.add_argument("--sigmas", type=lambda s: [float(x) for x in s.split(",")], default=[0.25, 0.5])
    parser.add_argument("--bound", choices=sequential.BOUNDS, default="cp")
    parser.add_argument("--first", type=int, default=SEQUENTIAL_DEFAULTS["first"])
    parser.add_argument("--ratio", type=float, default=SEQUENTIAL_DEFAULTS["ratio"])
    parser.add_argument("--final-share", type=float, default=SEQUENTIAL_DEFAULTS["final_share"])
    parser.add_argument("--spend-power", type=float, default=SEQUENTIAL_DEFAULTS["spend_power"])
    parser.add_argument("--futility-alpha", type=float, default=SEQUENTIAL_DEFAULTS["futility_alpha"])
    parser.add_argument("--abstain-range", type=lambda s: tuple(float(x) for x in s.split(",")), default=(0.3, 0.5))
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engine", type=int, default=100, help="digits test examples for the engine run (0: skip)")
    parser.add_argument("--engine-n", type=int, default=10_000)
    parser.add_argument("--engine-sigma", type=float, default=0.25)
    parser.add_argument("--engine-batch", type=int, default=1000)
    parser.add_argument("--engine-epochs", type=int, default=15)
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"error: data file {args.data} not found (expected Cohen et al.'s released radii CSV)", file=sys.stderr)
        raise SystemExit(2)
    run(args)


if __name__ == "__main__":
    main()
