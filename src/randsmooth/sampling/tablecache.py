"""Radius tables R(rho) at lambd = 1: the table type, its validation, its sound lookup, and the cache.

A :class:`RadiusTable` is a monotone list of points (rho_i, R_i) of a certified-radius curve
R(rho) (radius at which the worst-case top-class probability drops to 1/2 when it is rho at the
clean input), computed numerically by the differential or level-set method of Yang et al. (2020).
Radii are at lambd = 1 (the family's natural scale); callers multiply by lambd.

Lookup (why it is a lower bound)
--------------------------------
R is increasing and, for every family tabulated here, convex in rho (differential method:
R'(rho) = 1/Phi(1 - rho) with Phi increasing). For a convex function the straight line through two
points (rho_{i-1}, R_{i-1}), (rho_i, R_i) lies *below* the function outside [rho_{i-1}, rho_i].
So for rho_i <= rho < rho_{i+1} we return R_i + s (rho - rho_i) with s the secant slope of the
previous segment (the reference's "convex interpolation"); we additionally cap s by the current
segment's slope, which changes nothing for a convex table and guarantees that the lookup never
exceeds the linear interpolation of the table even if convexity were slightly violated. On the first
segment (no previous one) we return 0. Past the last table point we return the last radius R_N
(never extrapolate upward): R is increasing, so R(rho) >= R_N there. Bounds rho <= 1/2 get 0.

Tables are validated (start at (1/2, 0), rho strictly increasing within [1/2, 1], radius
non-decreasing and finite, secant slopes non-decreasing up to a small relative tolerance) after
building *and* after loading from disk; a table failing this raises ``ValueError`` naming the
family and parameters.

Cache
-----
One ``.npz`` file per table in :func:`cache_dir` (``$RANDSMOOTH_CACHE_DIR``, else
``$XDG_CACHE_HOME/randsmooth``, else ``~/.cache/randsmooth``). The file name contains a SHA-256
hash of the full key (family, method, every family parameter, dim, the grid, and
:data:`SCHEMA_VERSION`); the key is also stored in the file and must match on load. Files are
written atomically (temporary file in the same directory + ``os.replace``). A corrupt, unreadable,
mismatching or invalid file is logged and recomputed, never trusted. Loaded or computed tables are
memoised in memory, so repeated calls do not touch the disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_path

__all__ = [
    "CONVEXITY_RTOL",
    "SCHEMA_VERSION",
    "RadiusTable",
    "cache_dir",
    "cache_path",
    "clear_memory_cache",
    "get_table",
    "table_key",
    "validate_table",
]

logger = logging.getLogger(__name__)

#: Bump whenever the numerical method or file layout changes: old cache files are then ignored.
SCHEMA_VERSION = 1
#: Relative tolerance on decreases of consecutive secant slopes (numerical noise in the tables).
CONVEXITY_RTOL = 1e-4

_MEMO: dict[str, "RadiusTable"] = {}
_MEMO_LOCK = threading.Lock()


# ----------------------------------------------------------------------------------- table
def validate_table(rho: np.ndarray, radius: np.ndarray, label: str, convexity_rtol: float = CONVEXITY_RTOL) -> None:
    """Raise ``ValueError`` (message starting with ``label``) unless (rho, radius) is a sane table.

    Checks: 1-D float arrays of equal length >= 2, all finite; starts at (1/2, 0); rho strictly
    increasing and <= 1; radius non-decreasing; secant slopes non-decreasing up to
    ``convexity_rtol`` (relative), which the lookup's lower-bound property relies on.
    """
    rho = np.asarray(rho)
    radius = np.asarray(radius)
    if rho.ndim != 1 or radius.shape != rho.shape or rho.size < 2:
        raise ValueError(
            f"{label}: table must be two 1-D arrays of equal length >= 2, got shapes {rho.shape} and {radius.shape}"
        )
    if not (np.isfinite(rho).all() and np.isfinite(radius).all()):
        raise ValueError(f"{label}: table contains non-finite values")
    if rho[0] != 0.5 or radius[0] != 0.0:
        raise ValueError(f"{label}: table must start at (rho, radius) = (0.5, 0), got ({rho[0]!r}, {radius[0]!r})")
    drho = np.diff(rho)
    if (drho <= 0).any():
        i = int(np.argmax(drho <= 0)) + 1
        raise ValueError(
            f"{label}: rho is not strictly increasing (rho[{i - 1}] = {rho[i - 1]!r}, rho[{i}] = {rho[i]!r})"
        )
    if rho[-1] > 1.0:
        raise ValueError(f"{label}: rho exceeds 1 (max {rho[-1]!r})")
    drad = np.diff(radius)
    if (drad < 0).any():
        i = int(np.argmax(drad < 0)) + 1
        raise ValueError(
            f"{label}: radius decreases (radius[{i - 1}] = {radius[i - 1]!r} at rho {rho[i - 1]!r}, "
            f"radius[{i}] = {radius[i]!r} at rho {rho[i]!r})"
        )
    slope = drad / drho
    bad = slope[1:] < slope[:-1] * (1.0 - convexity_rtol)
    if bad.any():
        i = int(np.argmax(bad)) + 1
        raise ValueError(
            f"{label}: table is not convex (secant slope drops from {slope[i - 1]!r} to {slope[i]!r} "
            f"at rho {rho[i]!r}); the convex-secant lookup would not be a lower bound"
        )


@dataclass(frozen=True, eq=False)
class RadiusTable:
    """Validated radius table (``rho``, ``radius`` at lambd = 1) with a sound lookup.

    ``label`` names the family and parameters (used in error messages).
    """

    rho: np.ndarray
    radius: np.ndarray
    label: str

    def __post_init__(self) -> None:
        rho = np.array(self.rho, dtype=np.float64)
        radius = np.array(self.radius, dtype=np.float64)
        validate_table(rho, radius, self.label)
        rho.flags.writeable = False
        radius.flags.writeable = False
        object.__setattr__(self, "rho", rho)
        object.__setattr__(self, "radius", radius)

    @property
    def max_rho(self) -> float:
        """Largest tabulated rho (the table's reach); beyond it the lookup is flat."""
        return float(self.rho[-1])

    def lookup(self, rho: Any) -> np.ndarray:
        """Lower bound on R(rho) (float64, same shape as ``rho``), see the module docstring.

        ``rho`` must hold probabilities in [0, 1]; entries <= 1/2 get 0 (not certified).
        """
        p = np.asarray(rho, dtype=np.float64)
        if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
            raise ValueError(f"{self.label}: rho must contain probabilities in [0, 1], got {rho!r}")
        r_tab, x_tab = self.radius, self.rho
        idx = np.searchsorted(x_tab, p, side="right") - 1  # x_tab[idx] <= p < x_tab[idx + 1]
        n = x_tab.size
        out = np.zeros(p.shape, dtype=np.float64)
        last = idx >= n - 1
        out[last] = r_tab[-1]
        mid = (idx >= 1) & ~last
        i = idx[mid]
        prev_slope = (r_tab[i] - r_tab[i - 1]) / (x_tab[i] - x_tab[i - 1])
        cur_slope = (r_tab[i + 1] - r_tab[i]) / (x_tab[i + 1] - x_tab[i])
        out[mid] = r_tab[i] + np.minimum(prev_slope, cur_slope) * (p[mid] - x_tab[i])
        # idx == 0 (first segment) and idx == -1 (rho < 1/2) stay 0.
        return out


# ----------------------------------------------------------------------------------- cache
def cache_dir() -> Path:
    """Directory of the on-disk table cache (not created here)."""
    env = os.environ.get("RANDSMOOTH_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "randsmooth"


def _normalise(value: Any) -> Any:
    """JSON-stable form of a key value: every number becomes a float (so k=2 and k=2.0 agree)."""
    if isinstance(value, Mapping):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    if isinstance(value, (str, bool)) or value is None:
        return value
    return float(value)


def table_key(family: str, method: str, params: Mapping[str, Any], grid: Mapping[str, Any]) -> dict[str, Any]:
    """The full cache key of a table (everything its values depend on, plus the schema version)."""
    return {
        "schema": SCHEMA_VERSION,
        "family": family,
        "method": method,
        "params": _normalise(params),
        "grid": _normalise(grid),
    }


def _key_json(key: Mapping[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


def cache_path(key: Mapping[str, Any]) -> Path:
    """Cache file of ``key``: ``{family}-{method}-{sha256(key)[:24]}.npz`` in :func:`cache_dir`."""
    digest = hashlib.sha256(_key_json(key).encode()).hexdigest()[:24]
    return cache_dir() / f"{key['family']}-{key['method']}-{digest}.npz"


def clear_memory_cache() -> None:
    """Forget the in-memory tables (the disk cache is untouched)."""
    with _MEMO_LOCK:
        _MEMO.clear()


def _load(path: Path, key_json: str, label: str) -> RadiusTable | None:
    """Table stored at ``path``, or None (with a warning) if it is missing or not trustworthy."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            stored_key = str(data["key"])
            rho, radius = np.array(data["rho"]), np.array(data["radius"])
        if stored_key != key_json:
            raise ValueError("stored key does not match the requested table")
        if rho.dtype != np.float64 or radius.dtype != np.float64:
            raise ValueError(f"arrays are {rho.dtype}/{radius.dtype}, expected float64")
        return RadiusTable(rho, radius, label)
    except Exception as exc:  # noqa: BLE001 - any defect means: do not trust, recompute
        logger.warning(
            "ignoring unusable radius-table cache file %s (%s: %s); recomputing", path, type(exc).__name__, exc
        )
        return None


def _save(path: Path, key_json: str, table: RadiusTable) -> None:
    """Write ``table`` atomically; a failure to write only logs a warning."""
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, rho=table.rho, radius=table.radius, key=np.array(key_json))
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        logger.warning("could not write radius-table cache file %s (%s); continuing without it", path, exc)


def get_table(key: Mapping[str, Any], label: str, build: Callable[[], tuple[np.ndarray, np.ndarray]]) -> RadiusTable:
    """The table for ``key``: from memory, else from disk, else ``build()`` (then cached).

    ``build`` returns (rho, radius) arrays; the result is validated (``ValueError`` naming
    ``label`` if it fails) before anything is written.
    """
    key_json = _key_json(key)
    with _MEMO_LOCK:
        table = _MEMO.get(key_json)
    if table is not None:
        return table
    path = cache_path(key)
    table = _load(path, key_json, label)
    if table is None:
        start = time.perf_counter()
        try:
            rho, radius = build()
        except ArithmeticError as exc:  # quadrature / root-finding failure: no table at all
            raise ValueError(f"{label}: table computation failed: {exc}") from exc
        table = RadiusTable(rho, radius, label)
        logger.info(
            "computed radius table %s (%d points, max rho %.6f) in %.2f s",
            label,
            table.rho.size,
            table.max_rho,
            time.perf_counter() - start,
        )
        _save(path, key_json, table)
    else:
        logger.debug("loaded radius table %s from %s", label, path)
    with _MEMO_LOCK:
        _MEMO[key_json] = table
    return table
