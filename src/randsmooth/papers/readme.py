"""The README of a paper's results folder: what each file is, which runs fed it, how the setting
deviates from the paper's, whether published values were shown, and the claims checked on this run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import bounds
from ..atomic import atomic_write_text
from ..evaluate import NOISE_SPACE_NOTES
from ..render import gfm_table, md_code
from .catalog import CONVENTIONS, PAPER_SETUPS, artifacts_of
from .data import NORM_LABELS, PaperSpec, TableData, noise_label


def files_table(spec: PaperSpec, has_logs: bool) -> str:
    rows = []
    for artifact in artifacts_of(spec.paper):
        tables = [t for t in spec.tables if artifact.name in t.artifacts]
        for table in tables:
            names = artifact.files([r.stem for r in table.runs])
            main = ", ".join(md_code(f"{table.name}/{n}") for n in names if "/" not in n)
            extra = (
                f" and `{table.name}/{artifact.per_run.format(stem='<method>_<σ>')}` per run"
                if artifact.per_run
                else ""
            )
            rows.append([f"`{artifact.target}`", main + extra, artifact.title, artifact.reference])
    if has_logs:
        rows.append(
            [
                f"`{spec.paper}_published_logs`",
                "`published_logs.csv`, `.md`, `.tex`",
                "printed vs recomputed from the released per-example logs, and the alpha the logs imply",
                "the authors' released logs",
            ]
        )
    rows.append(["(this file)", "`README.md`, `claims.csv`", "files, runs, deviations, claims checked on this run", ""])
    rows.append(["appendix", "`summary.csv`, `summary.md`", "every metric of every table, one block per run", ""])
    return gfm_table(["target", "files", "what", "paper"], rows, numeric=False)


def runs_table(table: TableData) -> str:
    rows = [
        [
            md_code(r.run),
            md_code(r.model),
            r.method,
            f"{noise_label(r.train_noise)} σ = {r.train_sigma:g}",
            f"{noise_label(r.noise)} σ = {r.sigma:g}",
            f"{r.n0:,}",
            f"{r.n:,}",
            f"{r.examples} ({r.num_examples if r.num_examples is not None else '?'} points)",
            md_code(r.run_dir),
        ]
        for r in table.runs
    ]
    header = ["run", "model", "method", "training noise", "certification noise", "n0", "N", "test points", "folder"]
    return gfm_table(header, rows, numeric=False)


def deviations(spec: PaperSpec) -> list[str]:
    """How each table's setting differs from the paper's (data set, architecture, N, n0, alpha)."""
    setup = PAPER_SETUPS.get(spec.paper)
    if setup is None:
        return []
    out = []
    for table in spec.tables:
        where = f"table `{table.name}`"
        paper_archs = setup["datasets"]
        if table.scale:
            out.append(f"{where}: {table.scale_line()}")
        if table.dataset not in paper_archs:
            out.append(f"{where}: data set {table.dataset} (the paper: {', '.join(paper_archs)})")
        archs = sorted({r.arch or "imported" for r in table.runs})
        expected = paper_archs.get(table.dataset)
        if expected is None or any(a != expected for a in archs):
            theirs = ", ".join(f"{a} on {d}" for d, a in paper_archs.items())
            out.append(f"{where}: architecture {', '.join(archs)} (the paper: {theirs})")
        for name, attr in (("N", "n"), ("n0", "n0")):
            values = sorted({getattr(r, attr) for r in table.runs})
            if values != [setup[attr]]:
                out.append(f"{where}: {name} = {', '.join(f'{v:,}' for v in values)} (the paper: {setup[attr]:,})")
        if table.alpha != setup["alpha"] or table.two_sided != setup["two_sided"]:
            sided = lambda two: "two-sided" if two else "one-sided"  # noqa: E731
            out.append(
                f"{where}: α = {table.alpha:g} {sided(table.two_sided)} "
                f"(the paper: {setup['alpha']:g} {sided(setup['two_sided'])})"
            )
    if spec.paper == "xin2025":
        out.append(
            "cost-sensitive certificate: one α shared as α/2 for p_A and α/(2|Ω|) per sensitive target "
            "(valid at 1 - α); the reference code uses α·|Ω|/2 per target and the max with the standard radius "
            "at the full α (valid at 1 - 2α) -- its Rob_cs is shown beside ours"
        )
    if spec.paper == "cohen2019":
        out.append("radii at full precision (the released logs write 3 significant digits); noise streams are seeded")
    return out


def published_note(artifact_csvs: list[Path]) -> str:
    used = 0
    sources: set[str] = set()
    for path in artifact_csvs:
        frame = pd.read_csv(path)
        if "published" in frame.columns:
            hits = frame[frame["published"].notna()]
            used += len(hits)
            sources |= {f"{s} [{t}]" for s, t in zip(hits["published_source"], hits["published_tag"], strict=True)}
    if not used:
        return (
            "No cell of this config has a setting the papers printed (data set, method, σ, N), so no published "
            "value is shown; the full-scale configs (`config/papers/`) show them beside ours."
        )
    return f"{used} cells show the printed value beside ours, from: " + "; ".join(sorted(sources)) + "."


# Input dimension C x H x W of the papers' data sets (for the diagnostics of claims that do not hold).
PAPER_DIMS = {"cifar10": 3 * 32 * 32, "imagenet": 3 * 224 * 224}


def diagnostics(spec: PaperSpec, claims: pd.DataFrame) -> list[str]:
    """For each table with a claim that does not hold or is not measurable here: the numbers that
    may explain it -- the data set's dimension against the paper's, the scale rule, and per run its
    clean accuracy, its largest certified radius against the budget cap sigma * Phi^-1(alpha^(1/N))
    (Gaussian noise, l2 and l1) and the accuracy one test point is worth."""
    failing = set(claims.loc[claims["status"] != "holds", "table"]) if not claims.empty else set()
    lines: list[str] = []
    setup = PAPER_SETUPS.get(spec.paper, {})
    for table in (t for t in spec.tables if t.name in failing):
        dims = sorted({r.dim for r in table.runs})
        theirs = ", ".join(f"{d} d = {PAPER_DIMS[d]:,}" for d in setup.get("datasets", {}) if d in PAPER_DIMS)
        head = f"Table `{table.name}`: data set {table.dataset}, d = {', '.join(f'{d:,}' for d in dims)}"
        head += f" (the paper: {theirs})" if theirs else ""
        head += f"; {table.scale_line()}" if table.scale else ""
        lines += [head + ".", "", _diagnostics_table(table), ""]
    return lines


def _diagnostics_table(table: TableData) -> str:
    alpha = table.alpha / (2 if table.two_sided else 1)
    rows = []
    for run in table.runs:
        decisions = table.certify(run)
        cap = (
            f"{float(bounds.max_radius(run.n, alpha, run.sigma)):.3g}"
            if run.noise == "gaussian" and table.norm in ("l1", "l2")
            else ""
        )
        points = len(decisions)
        rows.append(
            [
                md_code(run.run),
                run.label,
                f"{run.n:,}",
                f"{points:,}",
                f"{float(decisions['correct'].mean()):.3f}" if points else "",
                f"{float(decisions['radius'].max()):.3g}" if points else "",
                cap,
                f"{1 / points:.3f}" if points else "",
            ]
        )
    header = ["run", "model", "N", "test points", "clean accuracy", "largest radius", "cap", "one point"]
    return gfm_table(header, rows, numeric=False).rstrip("\n")


def claim_explanations(claims: pd.DataFrame) -> list[str]:
    """Per claim that does not hold or is not measurable here, what its check measured about why
    (the ``explanation`` its :class:`.claims.Verdict` computed from the counts), as list items."""
    if claims.empty or "explanation" not in claims.columns:
        return []
    rows = claims[(claims["status"] != "holds") & claims["explanation"].fillna("").astype(bool)]
    items = [
        f"* **{r.id}** (table {md_code(r.table) if r.table else 'none'}, {r.status}): {r.explanation}."
        for r in rows.itertuples(index=False)
    ]
    return [*items, ""] if items else []


def claims_section(claims: pd.DataFrame) -> str:
    if claims.empty:
        return "No claims are listed for this paper."
    rows = [
        [f"**{r.status}**", r.claim, r.source, md_code(r.table) if r.table else "", r.evidence]
        for r in claims.itertuples(index=False)
    ]
    return gfm_table(["verdict", "claim", "source", "table", "numbers behind it"], rows, numeric=False)


def write_readme(
    spec: PaperSpec, claims: pd.DataFrame, artifact_csvs: list[Path], has_logs: bool, out: str | Path
) -> str:
    setup = PAPER_SETUPS.get(spec.paper, {})
    title = spec.title if spec.title != spec.paper else setup.get("citation", spec.paper)
    lines = [
        f"# {title}",
        "",
        f"{setup.get('citation', spec.paper)}. Built with `snakemake --cores all {spec.paper}` from the config's "
        f"`papers/{spec.paper}` section; every file below is also its own target.",
        "",
        f"Conventions: {CONVENTIONS}",
        "",
        "## Files",
        "",
        files_table(spec, has_logs).rstrip("\n"),
        "",
        "## Runs",
        "",
    ]
    for table in spec.tables:
        sided = "two" if table.two_sided else "one"
        lines += [
            f"### Table `{table.name}` ({table.dataset})",
            "",
            f"α = {table.alpha:g} ({sided}-sided), {NORM_LABELS.get(table.norm, table.norm)} radii, radii "
            f"{', '.join(f'{r:g}' for r in table.radii)}; artifacts: {', '.join(table.artifacts)}."
            + (f" Only the first {table.first_examples:,} test points of each run." if table.first_examples else "")
            + (f" {NOISE_SPACE_NOTES[table.noise_space]}." if table.noise_space != "pixel" else ""),
            "",
        ]
        if table.scale:
            lines += [f"Scale: {table.scale_line()}.", ""]
        lines += [
            "",
            runs_table(table).rstrip("\n"),
            "",
        ]
    lines += ["## Deviations from the paper", ""]
    lines += [f"* {d}" for d in deviations(spec)] or ["* none"]
    lines += ["", "## Published values", "", published_note(artifact_csvs), "", "## Claims, checked on this run", ""]
    lines += [claims_section(claims).rstrip("\n"), ""]
    explain, reasons = diagnostics(spec, claims), claim_explanations(claims)
    if explain or reasons:
        lines += ["## What may explain a claim that does not hold here", "", *reasons]
    if explain:
        lines += [
            'The numbers behind each table with such a claim (radii in the table\'s norm; "cap" = the largest '
            'radius CERTIFY can return at N and α with Gaussian noise, σ Φ⁻¹(α^(1/N)); "one point" = the '
            "accuracy one test point is worth):",
            "",
            *explain,
        ]
    text = "\n".join(lines)
    atomic_write_text(out, text)
    return text
