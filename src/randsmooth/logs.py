"""Import and export of the papers' published per-example logs.

Formats (tab-separated, one header line; as written by the released code of Cohen et al. 2019,
Sun et al. 2025 and Xin et al. 2025):

=================  ==========================================================================
kind               header
=================  ==========================================================================
certify            ``idx label predict radius correct time`` (Cohen, Sun)
predict            ``idx label predict correct time`` (Cohen)
cost_sensitive     ``idx label predict r r1 r2 mass nA nB cBHat correct`` (Xin)
=================  ==========================================================================

* ``time`` is ``str(datetime.timedelta)`` (``0:02:31.238689``, ``1 day, 0:00:01``) or, in three
  of Cohen's older files, float seconds (``15.4``); the reader returns float seconds.
* ``radius`` is written ``{:.3}`` (3 significant digits, may be scientific: ``7.11e-05``); Sun's
  ImageNet SmoothAdv logs use 4 decimals (``{:.4f}``). Abstention: predict -1 (radius 0.0 in
  Cohen/Sun; Xin keeps the radii).
* Xin's files are opened in append mode by the reference, so repeated runs leave repeated header
  lines; the reader drops them with a warning. The writer writes the header once and overwrites.

The reader records what it saw in ``DataFrame.attrs``: ``kind``, ``source`` (path),
``time_format`` ("timedelta" / "seconds" / "mixed" / None), ``radius_format`` ("{:.3}",
"{:.4f}", "{:.3f}" or None when no single rendering explains every value) and
``repeated_headers`` (count dropped). :func:`write_reference_log` defaults to those formats, so a
read/write cycle reproduces the file.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from . import bounds
from .atomic import atomic_write_text

log = logging.getLogger(__name__)

__all__ = [
    "HEADERS",
    "AlphaInference",
    "counts_from_radii",
    "format_timedelta",
    "infer_alpha",
    "parse_time",
    "read_ecdf",
    "read_reference_log",
    "write_ecdf",
    "write_reference_log",
]

HEADERS: dict[str, tuple[str, ...]] = {
    "certify": ("idx", "label", "predict", "radius", "correct", "time"),
    "predict": ("idx", "label", "predict", "correct", "time"),
    "cost_sensitive": ("idx", "label", "predict", "r", "r1", "r2", "mass", "nA", "nB", "cBHat", "correct"),
}
_INT_COLUMNS = {"idx", "label", "predict", "correct", "nA", "nB", "cBHat"}
_FLOAT_COLUMNS = {"radius", "r", "r1", "r2", "mass"}
_RADIUS_FORMATS = ("{:.3}", "{:.4f}", "{:.3f}")
_TIMEDELTA_RE = re.compile(r"^(?:(-?\d+) days?, )?(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$")


# ------------------------------------------------------------------------------ time fields
def parse_time(text: str) -> float:
    """Seconds from ``str(timedelta)`` (``H:MM:SS[.ffffff]``, optional ``N day(s), `` prefix) or a float."""
    s = text.strip()
    m = _TIMEDELTA_RE.match(s)
    if m:
        days = int(m.group(1)) if m.group(1) else 0
        return days * 86400.0 + int(m.group(2)) * 3600.0 + int(m.group(3)) * 60.0 + float(m.group(4))
    value = float(s)  # ValueError for anything else
    if not math.isfinite(value):
        raise ValueError(f"time must be finite, got {text!r}")
    return value


def format_timedelta(seconds: float) -> str:
    """``str(datetime.timedelta(seconds=...))`` -- Cohen's time field."""
    return str(timedelta(seconds=float(seconds)))


# ---------------------------------------------------------------------------------- reading
def _detect_kind(header: tuple[str, ...], path: str) -> str:
    for kind, cols in HEADERS.items():
        if header == cols:
            return kind
    known = "; ".join(f"{k}: {' '.join(v)}" for k, v in HEADERS.items())
    raise ValueError(f"{path}: unknown log header {' '.join(header)!r}; expected one of [{known}]")


def _radius_format(strings: Sequence[str], preferred: Sequence[str] = _RADIUS_FORMATS) -> str | None:
    """The first rendering in ``preferred`` that reproduces every written value, if any."""
    for fmt in preferred:
        if all(fmt.format(float(s)) == s for s in strings):
            return fmt
    return None


def read_reference_log(path: str | os.PathLike) -> pd.DataFrame:
    """Read a certify / predict / cost-sensitive log (format detected from the header line).

    Returns a DataFrame with the file's columns (ints as int64, radii/time as float64; ``time``
    in seconds) and, for the cost-sensitive format, a ``radius`` alias of ``r``. Repeated header
    lines (Xin's append mode) and blank lines are dropped (repeats with a logged warning).
    Raises ValueError naming the file for an unknown header or an unparsable field.
    """
    path = os.fspath(path)
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise ValueError(f"{path}: empty log file (no header)")
    header = tuple(lines[0].strip().split("\t"))
    kind = _detect_kind(header, path)
    body: list[tuple[int, list[str]]] = []
    repeated = 0
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.rstrip("\r\n").split("\t")
        if tuple(f.strip() for f in fields) == header:
            repeated += 1
            continue
        if len(fields) != len(header):
            raise ValueError(
                f"{path}:{lineno}: expected {len(header)} tab-separated fields, got {len(fields)}: {line!r}"
            )
        body.append((lineno, [f.strip() for f in fields]))
    if repeated:
        log.warning("%s: dropped %d repeated header line(s) (appended runs)", path, repeated)
    columns: dict[str, Any] = {}
    for j, name in enumerate(header):
        raw = [fields[j] for _, fields in body]
        columns[name] = _convert(name, raw, [ln for ln, _ in body], path)
    df = pd.DataFrame(columns, columns=list(header))
    attrs: dict[str, Any] = {"kind": kind, "source": path, "repeated_headers": repeated}
    if "time" in header:
        raw_t = [fields[header.index("time")] for _, fields in body]
        is_td = [":" in t for t in raw_t]
        attrs["time_format"] = (
            None if not raw_t else "timedelta" if all(is_td) else "seconds" if not any(is_td) else "mixed"
        )
    if kind == "certify":
        attrs["radius_format"] = _radius_format([fields[header.index("radius")] for _, fields in body])
    elif kind == "cost_sensitive":  # r, r1, r2 and mass share one rendering
        strings = [fields[header.index(c)] for c in ("r", "r1", "r2", "mass") for _, fields in body]
        attrs["radius_format"] = _radius_format(strings, ("{:.3f}", "{:.3}", "{:.4f}"))
    if kind == "cost_sensitive":
        df["radius"] = df["r"]
    df.attrs.update(attrs)
    _check_rows(df, kind, path)
    return df


def _convert(name: str, raw: list[str], linenos: list[int], path: str) -> np.ndarray:
    out = []
    for s, ln in zip(raw, linenos, strict=True):
        try:
            if name in _INT_COLUMNS:
                out.append(int(s))
            elif name in _FLOAT_COLUMNS:
                v = float(s)
                if math.isnan(v):
                    raise ValueError
                out.append(v)
            elif name == "time":
                out.append(parse_time(s))
            else:  # pragma: no cover - every header column is typed above
                out.append(s)
        except ValueError:
            raise ValueError(f"{path}:{ln}: cannot parse column {name!r} value {s!r}") from None
    dtype = np.int64 if name in _INT_COLUMNS else np.float64
    return np.asarray(out, dtype=dtype)


def _check_rows(df: pd.DataFrame, kind: str, path: str) -> None:
    if not df["correct"].isin([0, 1]).all():
        raise ValueError(f"{path}: column 'correct' must be 0 or 1")
    if kind in ("certify", "predict"):
        mismatch = (df["correct"] == 1) != (df["predict"] == df["label"])
        if mismatch.any():
            log.warning("%s: %d row(s) have correct != (predict == label)", path, int(mismatch.sum()))
    if kind == "certify":
        bad = (df["predict"] == -1) & (df["radius"] != 0)
        if bad.any():
            log.warning("%s: %d abstained row(s) carry a non-zero radius", path, int(bad.sum()))


# ---------------------------------------------------------------------------------- writing
def _time_strings(df: pd.DataFrame, time_format: str) -> list[str]:
    column = "time" if "time" in df.columns else "time_s" if "time_s" in df.columns else None
    if column is None:
        raise ValueError("writing this log needs a 'time' (or 'time_s') column in seconds")
    values = np.asarray(df[column], dtype=np.float64)
    if (~np.isfinite(values)).any():
        raise ValueError(f"column {column!r} must be finite seconds")
    if time_format == "timedelta":
        return [format_timedelta(v) for v in values]
    if time_format == "seconds":
        return [repr(float(v)) for v in values]
    raise ValueError(f"time_format must be 'timedelta' or 'seconds', got {time_format!r}")


def _ints(df: pd.DataFrame, column: str) -> list[int]:
    arr = np.asarray(df[column])
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    as_float = np.asarray(arr, dtype=np.float64)
    if (~np.isfinite(as_float)).any() or (as_float != np.round(as_float)).any():
        raise ValueError(f"column {column!r} must contain integers")
    return [int(v) for v in as_float]


def _floats(df: pd.DataFrame, column: str, fmt: str) -> list[str]:
    values = np.asarray(df[column], dtype=np.float64)
    if np.isnan(values).any():
        raise ValueError(f"column {column!r} must not contain NaN")
    return [fmt.format(float(v)) for v in values]


def write_reference_log(
    df: pd.DataFrame,
    path: str | os.PathLike,
    kind: str = "certify",
    *,
    time_format: str | None = None,
    radius_format: str | None = None,
) -> None:
    """Write ``df`` in one of the reference formats (header once, file overwritten atomically).

    Args:
        df: per-example table with the kind's columns (``time`` or ``time_s`` in seconds for
            certify/predict; for cost_sensitive ``r`` may be given as ``radius``).
        kind: "certify", "predict" or "cost_sensitive".
        time_format: "timedelta" (``str(timedelta)``, Cohen's current format) or "seconds"
            (``repr(float)``); default ``df.attrs["time_format"]`` if it is one of those, else
            timedelta.
        radius_format: Python format for radii; default ``df.attrs["radius_format"]`` or ``{:.3}``
            (certify) / ``{:.3f}`` (cost_sensitive; also used for r1, r2, mass).
    """
    if kind not in HEADERS:
        raise ValueError(f"kind must be one of {tuple(HEADERS)}, got {kind!r}")
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    data = df
    if kind == "cost_sensitive" and "r" not in data.columns and "radius" in data.columns:
        data = data.assign(r=data["radius"])
    needed = [c for c in HEADERS[kind] if c != "time"]
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise ValueError(f"writing a {kind} log needs column(s) {missing}")
    if time_format is None:
        attr = df.attrs.get("time_format")
        time_format = attr if attr in ("timedelta", "seconds") else "timedelta"
    if radius_format is None:
        attr = df.attrs.get("radius_format") if df.attrs.get("kind", kind) == kind else None
        radius_format = attr or ("{:.3f}" if kind == "cost_sensitive" else "{:.3}")
    cols: list[list[str]] = []
    for name in HEADERS[kind]:
        if name == "time":
            cols.append(_time_strings(data, time_format))
        elif name in _INT_COLUMNS:
            cols.append([str(v) for v in _ints(data, name)])
        else:
            cols.append(_floats(data, name, radius_format))
    lines = ["\t".join(HEADERS[kind])]
    lines += ["\t".join(row) for row in zip(*cols, strict=True)]
    atomic_write_text(path, "\n".join(lines) + "\n")


# --------------------------------------------------------------------------- ECDF files
def read_ecdf(path: str | os.PathLike) -> pd.DataFrame:
    """Read one of Sun et al.'s ``data/ecdf/*.csv`` files (tab-separated ``x y`` despite .csv)."""
    path = os.fspath(path)
    try:
        df = pd.read_csv(path, sep="\t", dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"{path}: not a tab-separated x/y ECDF file ({exc})") from None
    if list(df.columns) != ["x", "y"]:
        raise ValueError(f"{path}: expected header 'x\\ty', got {list(df.columns)}")
    return df


def write_ecdf(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write an ``x, y`` curve in Sun's ECDF file layout: header ``x\\ty``, y rounded to 4 decimals."""
    if not isinstance(df, pd.DataFrame) or list(df.columns[:2]) != ["x", "y"]:
        raise ValueError("write_ecdf needs a DataFrame with columns x, y")
    lines = ["x\ty"] + [f"{float(x)!r}\t{round(float(y), 4)!r}" for x, y in zip(df["x"], df["y"], strict=True)]
    atomic_write_text(path, "\n".join(lines) + "\n")


# ---------------------------------------------------------------------- alpha inference
@dataclass(frozen=True)
class AlphaInference:
    """Result of :func:`infer_alpha`.

    consistent: candidates whose radius ladder contains every checked row's written radius.
    fraction: candidate -> fraction of checked rows consistent with it.
    n_checked: number of non-abstained rows compared; ceiling: candidate -> largest radius
    (the rendering of the radius at n_A = n); radius_format: rendering used.
    """

    consistent: tuple[float, ...]
    fraction: dict[float, float]
    n_checked: int
    ceiling: dict[float, float]
    radius_format: str

    @property
    def best(self) -> float | None:
        """The single consistent candidate, or None if there are zero or several."""
        return self.consistent[0] if len(self.consistent) == 1 else None


def _ladder(n: int, alpha: float, sigma: float, two_sided: bool, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """(k, written radius) for every k whose bound exceeds 1/2; the written radii
    ``fmt.format(sigma*Phi^{-1}(cp_lower(k, n, alpha)))`` are non-decreasing in k."""
    k = np.arange(n // 2, n + 1, dtype=np.int64)
    p = np.asarray(bounds.cp_lower(k, n, alpha, two_sided=two_sided), dtype=np.float64)
    keep = p > 0.5
    radii = sigma * norm.ppf(p[keep])
    return k[keep], np.asarray([float(fmt.format(float(r))) for r in radii], dtype=np.float64)


def _check_ladder_args(log_df: pd.DataFrame, n: Any, sigma: Any) -> None:
    if not isinstance(log_df, pd.DataFrame) or not {"predict", "radius"} <= set(log_df.columns):
        raise ValueError("expected a certify log DataFrame with columns predict, radius")
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not (isinstance(sigma, (int, float, np.floating)) and sigma > 0 and math.isfinite(sigma)):
        raise ValueError(f"sigma must be a positive finite number, got {sigma!r}")


def counts_from_radii(
    log_df: pd.DataFrame,
    n: int,
    alpha: float,
    sigma: float,
    *,
    two_sided: bool = False,
    radius_format: str | None = None,
) -> pd.DataFrame:
    """Range of estimation counts n_A consistent with each written radius of a certify log.

    Inverts Cohen's Gaussian certificate on the written (rounded) radius: every k in
    [n_a_min, n_a_max] renders to the row's radius at (n, alpha, sigma). Abstained rows and rows
    matching no k get NaN. For a correct row the true-label p_A of Sun et al. is about n_A / n,
    which is how their released ECDF files (the data of their Figure 9) can be reconstructed from
    certify logs (the rounding leaves a range, e.g. n_A = n - 1 and n look alike at 3 digits).
    Returns a DataFrame n_a_min, n_a_max (float64, NaN where unknown) in the log's row order.
    """
    _check_ladder_args(log_df, n, sigma)
    fmt = radius_format or log_df.attrs.get("radius_format") or "{:.3}"
    k, ladder = _ladder(int(n), float(alpha), float(sigma), two_sided, fmt)
    written = np.asarray(log_df["radius"], dtype=np.float64)
    lo = np.searchsorted(ladder, written, side="left")
    hi = np.searchsorted(ladder, written, side="right") - 1
    valid = (log_df["predict"].to_numpy() != -1) & (lo <= hi) & (lo < len(k))
    lo_c, hi_c = np.clip(lo, 0, len(k) - 1), np.clip(hi, 0, len(k) - 1)
    return pd.DataFrame({"n_a_min": np.where(valid, k[lo_c], np.nan), "n_a_max": np.where(valid, k[hi_c], np.nan)})


def infer_alpha(
    log_df: pd.DataFrame,
    n: int,
    sigma: float,
    candidates: Sequence[float] = (0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1),
    *,
    two_sided: bool = False,
    radius_format: str | None = None,
) -> AlphaInference:
    """Which confidence level(s) produced the radii of a certify log?

    For every non-abstained row (predict != -1) the written radius must equal the rendering
    (``radius_format``, default the log's ``attrs["radius_format"]`` or ``{:.3}``) of
    sigma * Phi^{-1}(cp_lower(k, n, alpha)) for some integer k (Cohen's Gaussian certificate). The
    ladder over k is monotone, so membership is a searchsorted lookup. Example: Cohen's released
    ImageNet logs are consistent with alpha = 0.01 (ceiling 3.91 sigma) although the paper states
    0.001 (ceiling 3.81 sigma).

    Args:
        log_df: a certify log (columns predict, radius), e.g. from :func:`read_reference_log`.
        n: estimation sample count used for the log (1e5 in all four papers).
        sigma: Gaussian noise level of the log.
        candidates: alpha values to test (one-sided unless ``two_sided``).
    """
    _check_ladder_args(log_df, n, sigma)
    if not candidates:
        raise ValueError("candidates must name at least one alpha")
    fmt = radius_format or log_df.attrs.get("radius_format") or "{:.3}"
    rows = log_df["predict"].to_numpy() != -1
    written = np.asarray(log_df["radius"], dtype=np.float64)[rows]
    if written.size == 0:
        raise ValueError("infer_alpha: the log has no certified (non-abstained) rows to compare")
    fraction: dict[float, float] = {}
    ceiling: dict[float, float] = {}
    for a in candidates:
        _, ladder = _ladder(int(n), float(a), float(sigma), two_sided, fmt)
        pos = np.clip(np.searchsorted(ladder, written), 0, len(ladder) - 1)
        hit = ladder[pos] == written
        fraction[float(a)] = float(np.mean(hit))
        ceiling[float(a)] = float(ladder[-1]) if ladder.size else float("nan")
    consistent = tuple(a for a, f in fraction.items() if f == 1.0)
    return AlphaInference(
        consistent=consistent, fraction=fraction, n_checked=int(written.size), ceiling=ceiling, radius_format=fmt
    )
