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

    python benchmarks/sequential.py [DATA_CSV] [--results DIR] [--n 100000] [--alpha 0.001]
        [--sigmas 0.25,0.5] [--bound cp|mixture] [--first 30] [--ratio 1.15] [--final-share 0.6]
        [--futility-alpha 0.04] [--abstain-range 0.3,0.5] [--reps 20] [--seed 0]

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
    print(
        f"sequential: samples {100 * worst_share:.1f}% of fixed N, certified accuracy within {worst_pp:.2f} pp, "
        f"failure rate {fails / max(streams, 1):.2g} at alpha {args.alpha:g}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--alpha", type=float, default=0.001)
    parser.add_argument("--sigmas", type=lambda s: [float(x) for x in s.split(",")], default=[0.25, 0.5])
    parser.add_argument("--bound", choices=sequential.BOUNDS, default="cp")
    parser.add_argument("--first", type=int, default=30)
    parser.add_argument("--ratio", type=float, default=1.15)
    parser.add_argument("--final-share", type=float, default=0.6)
    parser.add_argument("--futility-alpha", type=float, default=0.04)
    parser.add_argument("--abstain-range", type=lambda s: tuple(float(x) for x in s.split(",")), default=(0.3, 0.5))
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"error: data file {args.data} not found (expected Cohen et al.'s released radii CSV)", file=sys.stderr)
        raise SystemExit(2)
    run(args)


if __name__ == "__main__":
    main()
