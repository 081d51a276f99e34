"""Hand-made per-example CERTIFY logs in the released layouts of Cohen et al. and Sun et al.

The files under ``tests/fixtures/published_logs/`` are written by :func:`write_fixtures` (run this
module to regenerate them; a test checks that they are unchanged). Each row is chosen by hand as
(label, prediction, n_A): the radius is Cohen's sigma * Phi^-1(LCB(n_A; N, alpha)) written with
``{:.3}``, abstentions are predict -1 with radius 0.0, and the time column is float seconds or a
timedelta as in the released files. The numbers they must reproduce are literals in
tests/test_papers.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from scipy.stats import norm

from randsmooth.bounds import cp_lower
from randsmooth.logs import write_reference_log

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "published_logs"
N = 100_000
# (label, predict, n_A): 7 correct rows (one wrong, two abstentions)
ROWS = [
    (3, 3, 100_000),
    (7, 7, 99_000),
    (4, 4, 95_000),
    (8, 8, 90_000),
    (1, 1, 75_000),
    (6, 6, 60_000),
    (2, 5, 90_000),
    (0, -1, 40_000),
    (9, -1, 50_000),
    (5, 5, 99_990),
]
LOGS = {  # relative path -> (sigma, alpha the radii are written at, time format)
    "locuslab-smoothing/data/certify/cifar10/resnet110/noise_0.25/test/sigma_0.25": (0.25, 0.001, "seconds"),
    "locuslab-smoothing/data/certify/cifar10/resnet110/noise_0.50/test/sigma_0.50": (0.5, 0.01, "seconds"),
    "eth-sri-acr-weakness/data/certify/cifar10/ours/noise_0.25.tsv": (0.25, 0.001, "timedelta"),
}


def synthetic_log(sigma: float, alpha: float) -> pd.DataFrame:
    rows = []
    for i, (label, predict, n_a) in enumerate(ROWS):
        radius = 0.0 if predict == -1 else float(sigma * norm.ppf(cp_lower(n_a, N, alpha)))
        rows.append(
            {
                "idx": 20 * i,
                "label": label,
                "predict": predict,
                "radius": radius,
                "correct": int(predict == label),
                "time": 15.0 + i / 10,
            }
        )
    return pd.DataFrame(rows)


def write_fixtures(root: Path = FIXTURES) -> list[Path]:
    paths = []
    for relative, (sigma, alpha, time_format) in LOGS.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        write_reference_log(
            synthetic_log(sigma, alpha), path, "certify", time_format=time_format, radius_format="{:.3}"
        )
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write_fixtures(Path(sys.argv[1]) if len(sys.argv) > 1 else FIXTURES):
        print(p)
