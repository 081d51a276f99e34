"""The papers' tables rebuilt from the authors' released per-example certification logs.

Cohen et al. and Sun et al. released their CERTIFY logs in their repositories. Given a local
clone (``papers/<paper>/published_logs: {root, commit}``; checked to be at ``commit`` when it is
a git clone, and file by file against ``sha256`` where given; downloaded with ``git clone`` at
``commit`` when ``url`` is set and ``root`` does not exist yet), every log listed in
``config/published/<paper>.yaml`` is read with :func:`randsmooth.logs.read_reference_log` and
shown cell by cell: the value the paper printed, the value recomputed from the log (certified
accuracy at r counts abstentions as wrong and compares the written 3-digit radius with >=; ACR
counts wrong and abstained rows as 0) and the alpha the written radii imply
(:func:`randsmooth.logs.infer_alpha`) against the stated one. No GPU is needed.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

from .. import metrics
from ..logs import infer_alpha, read_reference_log
from .published import Published
from .tables import Cell, PaperTable, Section

ALPHA_CANDIDATES = (0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
HEADER = ["cell", "printed", "recomputed from the log", "Δ (recomputed - printed)"]


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=False)


def fetch_clone(url: str, root: Path, commit: str) -> None:
    """Clone ``url`` into ``root`` and check out ``commit`` (git verifies every object against its
    hash, so the pinned commit is the checksum of the whole tree). Into a temporary folder first:
    an interrupted download leaves nothing at ``root``."""
    tmp = root.with_name(root.name + ".tmp-clone")
    if tmp.exists():
        raise FileExistsError(f"{tmp} exists (an interrupted download?); remove it and rerun")
    root.parent.mkdir(parents=True, exist_ok=True)
    for args in (("clone", "--quiet", "--no-checkout", url, str(tmp)), ("-C", str(tmp), "checkout", "--quiet", commit)):
        result = _git(*args)
        if result.returncode != 0:
            raise ValueError(f"git {' '.join(args)} failed: {' '.join(result.stderr.split())}")
    tmp.rename(root)


def check_clone(root: Path, commit: str, url: str | None = None) -> str:
    """Where the clone stands: "at commit X" (verified) or "not a git clone (commit not verified)".
    A missing folder is downloaded from ``url`` when given, else an error; a clone at another
    commit is an error."""
    if not root.is_dir() and url:
        fetch_clone(url, root, commit)
    if not root.is_dir():
        raise FileNotFoundError(
            f"published_logs root {root}: no such folder; clone the authors' repository there at commit {commit} "
            "(or set published_logs/url to download it)"
        )
    if not (root / ".git").exists():
        return f"{root} is not a git clone: commit {commit} not verified"
    head = _git("-C", str(root), "rev-parse", "HEAD")
    if head.returncode != 0:
        raise ValueError(f"published_logs root {root}: git rev-parse HEAD failed: {head.stderr.strip()}")
    if head.stdout.strip() != commit:
        raise ValueError(f"published_logs root {root} is at {head.stdout.strip()}, not the pinned commit {commit}")
    return f"clone at commit {commit} (verified)"


def check_file(path: Path, sha256: str | None) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"published log {path}: no such file (is the clone complete and at the pinned commit?)")
    if sha256 is not None:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != sha256:
            raise ValueError(f"published log {path}: sha256 {digest} differs from the expected {sha256}")


def select_logs(published: Published, wanted: list[str] | None) -> list[dict[str, Any]]:
    listed = {entry["path"]: entry for entry in published.logs}
    if wanted is None:
        return list(listed.values())
    unknown = [p for p in wanted if p not in listed]
    if unknown:
        raise ValueError(f"published_logs/logs: {unknown} not listed in the published file; known: {sorted(listed)}")
    return [listed[p] for p in wanted]


def log_section(root: Path, entry: dict[str, Any], published: Published, sha256: str | None) -> Section:
    """One section per log: printed vs recomputed per radius (and ACR where printed), and the alpha."""
    path = root / entry["path"]
    check_file(path, sha256)
    log = read_reference_log(path)
    n, sigma, stated = int(entry["n"]), float(entry["sigma"]), float(entry["stated_alpha"])
    keys = {k: entry[k] for k in ("dataset", "method", "sigma", "n") if k in entry}
    if "train_sigma" in entry:
        keys["train_sigma"] = entry["train_sigma"]
    rows = []
    for radius in entry.get("radii", []):
        cell_keys = {**keys, "metric": "certified_accuracy", "radius": float(radius)}
        rows.append(
            (
                f"certified accuracy, r = {radius:g}",
                _cells(metrics.certified_accuracy(log, radius), cell_keys, published, entry),
            )
        )
    if entry.get("acr", False):
        rows.append(("ACR", _cells(metrics.acr(log), {**keys, "metric": "acr"}, published, entry, digits=3)))
    inference = infer_alpha(log, n, sigma, ALPHA_CANDIDATES)
    implied = ", ".join(f"{a:g}" for a in inference.consistent) or "none of the candidates"
    flagged = inference.consistent != (stated,)
    flag = " -- FLAGGED: the written radii were not computed at the stated α" if flagged else ""
    title = f"{entry['path']} ({len(log):,} rows{', α flagged' if flagged else ''})"
    notes = [
        f"α implied by the written radii (N = {n:,}, σ = {sigma:g}): {implied}; stated α = {stated:g}{flag}. "
        f"Radius ceiling at the implied α: {', '.join(f'{inference.ceiling[a]:g}' for a in inference.consistent)}."
        if inference.consistent
        else f"α implied by the written radii (N = {n:,}, σ = {sigma:g}): none of {list(ALPHA_CANDIDATES)}{flag}."
    ]
    return Section(title, HEADER, rows, best=False, notes=notes)


def _cells(
    value: float, keys: dict[str, Any], published: Published, entry: dict[str, Any], digits: int = 2
) -> list[Cell]:
    record = published.find(entry.get("artifact", ""), keys)
    printed = record.value if record else float("nan")
    return [
        Cell(printed, {**keys, "quantity": "printed"}, digits),
        Cell(float(value), {**keys, "quantity": "recomputed"}, digits + 1),
        Cell(float(value) - printed, {**keys, "quantity": "difference"}, digits + 1),
    ]


def build_published_logs(
    paper: str, settings: dict[str, Any], published: Published, out_stem: str | Path
) -> PaperTable:
    """Read the listed logs from the clone and write ``<out_stem>.{csv,md,tex}``."""
    root = Path(settings["root"])
    where = check_clone(root, settings["commit"], settings.get("url"))
    sha = settings.get("sha256") or {}
    entries = select_logs(published, settings.get("logs"))
    if not entries:
        raise ValueError(f"no released log of {paper} is listed in its published file")
    sections = [log_section(root, entry, published, sha.get(entry["path"])) for entry in entries]
    sources = sorted({e.get("source", "") for e in entries} - {""})
    table = PaperTable(
        title=f"{paper}: the tables recomputed from the authors' released per-example logs",
        reference="; ".join(sources) or paper,
        settings=f"logs read from {where}; certified accuracy counts abstentions as wrong, ACR counts wrong and "
        "abstained rows as 0, radii compared as written (3 significant digits) with >=",
        sections=sections,
    )
    table.write(out_stem)
    return table
