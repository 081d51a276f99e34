"""The bill before running: GPU-hours of a config's jobs per rule, target, paper table and artifact.

Every GPU job of the workflow (``train`` per trained model, ``soft_targets`` per teacher and draw
count, ``certify_shard`` per run and shard) is sized by :mod:`.resources`, the estimates that also
set each job's SLURM wall time, so the bill and the cluster requests cannot disagree. GPU-hours are
the estimates themselves (one GPU per job); the wall time asked for is larger (x ``margin``).
CPU-hours are the CPUs each GPU job asks for x its hours. The local rules (data checks, merges,
metrics, paper artifacts) run on the submitting machine, one CPU each, and are counted, not sized.

A target is a rule of the Snakefile: ``all`` (the default), ``train_all``, ``certify_all``,
``metrics_all``, ``papers``, a paper (``cohen2019``), one of its artifacts (``cohen2019_table1``)
or its ``<paper>_readme`` / ``<paper>_published_logs``. A job two targets share counts once in
the total and once in each target's own line.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..papers.catalog import artifacts_of
from . import resources as RES
from .paths import Paths
from .plan import Plan

GPU_RULES = ("train", "soft_targets", "certify_shard")
WHOLE = ("all", "train_all", "certify_all", "metrics_all", "papers")


@dataclass(frozen=True)
class GpuJob:
    """The jobs of one rule for one model / teacher / run: ``count`` SLURM jobs of at most
    ``longest`` hours each, ``hours`` GPU-hours in all (None: the size is known only once the data
    is read), ``asked`` hours of wall time asked for the longest (first attempt)."""

    rule: str
    name: str
    where: str
    count: int
    cpus: int
    hours: float | None
    longest: float | None
    asked: float
    allocations: int  # allocations of max_minutes the longest job needs (JobResources.allocations; 0: not sized)

    @property
    def cpu_hours(self) -> float | None:
        return None if self.hours is None else self.hours * self.cpus


JobId = tuple[str, str]  # (rule, key of the model / soft-target file / run)


def _names(mapping: dict[str, str], key: str) -> str:
    return ",".join(n for n, k in mapping.items() if k == key) or key


def _hours(minutes: float | None) -> float | None:
    return None if minutes is None else minutes / 60


def _job(rule: str, name: str, where: str, count: int, total: float | None, one: RES.JobResources) -> GpuJob:
    allocations = 0 if one.minutes is None else one.allocations()
    longest, asked = _hours(one.minutes), one.runtime() / 60
    return GpuJob(rule, name, where, count, one.cpus, _hours(total), longest, asked, allocations)


def gpu_jobs(plan: Plan, runs: Iterable[str], models: Iterable[str] = ()) -> dict[JobId, GpuJob]:
    """Every GPU job the counts of ``runs`` (and the weights of ``models``) need, their teachers and
    pre-trained starts included."""
    jobs: dict[JobId, GpuJob] = {}
    todo = list(models)
    for run_key in runs:
        run = plan.run(run_key)
        one = RES.certify_job(plan, run_key)
        where = f"{run.dataset.name}/{plan.model(run.model_key).arch}"
        name = _names(plan.run_names, run_key)
        jobs[("certify_shard", run_key)] = _job(
            "certify_shard", name, where, run.shards, RES.run_minutes(plan, run_key), one
        )
        todo.append(run.model_key)
    done: set[str] = set()
    while todo:
        key = todo.pop()
        model = plan.model(key)
        if key in done or not model.trained:
            continue
        done.add(key)
        where = f"{model.dataset.name}/{model.arch}"
        one = RES.train_job(plan, key)
        jobs[("train", key)] = _job("train", _names(plan.model_names, key), where, 1, one.minutes, one)
        if model.pretrained is not None:
            todo.append(model.pretrained)
        soft = model.soft_targets
        if soft is not None:
            teacher = plan.model(soft.teacher_key)
            one = RES.soft_targets_job(plan, soft.teacher_key, soft.samples)
            name = f"{_names(plan.model_names, soft.teacher_key)} n{soft.samples} seed{soft.seed}"
            jobs[("soft_targets", f"{soft.teacher_key}/n{soft.samples}_seed{soft.seed}")] = _job(
                "soft_targets", name, f"{teacher.dataset.name}/{teacher.arch}", 1, one.minutes, one
            )
            todo.append(soft.teacher_key)
    return jobs


def chain_warning(plan: Plan, retries: int) -> str | None:
    """One line when a GPU job of the plan needs more allocations than Snakemake's ``retries``
    allow (``retries`` + 1 attempts, each at most ``max_minutes``; :meth:`.resources.JobResources.allocations`):
    how many jobs, the longest of them with its estimate, and the ``--retries`` that covers them
    all. None when every job fits its attempts."""
    used = [m for m in plan.used_models() if plan.models[m].trained]
    short = [j for j in gpu_jobs(plan, plan.used_runs(), used).values() if j.allocations > retries + 1]
    if not short:
        return None
    worst = max(short, key=lambda j: (j.allocations, j.longest or 0.0))
    limits = plan.config["resources"]
    jobs = sum(j.count for j in short)
    estimate = f"{worst.longest:,.1f} h" if (worst.longest or 0.0) >= 1 else f"{(worst.longest or 0.0) * 60:.1f} min"
    return (
        f"warning: under SLURM, {jobs} GPU job{' needs' if jobs == 1 else 's need'} more allocations of "
        f"resources/max_minutes {limits['max_minutes']} min than --retries {retries} allows ({retries + 1}): the "
        f"longest, {worst.rule} {worst.name} ({worst.where}), estimated {estimate} x margin {limits['margin']:g}, "
        f"needs {worst.allocations}; run with --retries {worst.allocations - 1} (a job cut at its wall time resumes "
        "from its checkpoint on the retry) or raise max_minutes"
    )


def target_jobs(plan: Plan, target: str) -> dict[JobId, GpuJob]:
    """The GPU jobs that Snakemake target ``target`` needs (one line naming the known targets if
    it is not one)."""
    if target in WHOLE:
        if target == "train_all":
            return gpu_jobs(plan, [], [m for m in plan.used_models() if plan.models[m].trained])
        return gpu_jobs(plan, plan.used_runs())
    for paper in plan.papers:
        if target in (paper, f"{paper}_readme"):
            return gpu_jobs(plan, _runs(plan, paper, None))
        if target == f"{paper}_published_logs" and plan.papers[paper]["published_logs"] is not None:
            return {}
        for artifact in Paths(plan.results).artifacts(plan, paper):
            if target == artifact.target:
                tables = Paths(plan.results).artifact_tables(plan, artifact)
                return gpu_jobs(plan, _runs(plan, paper, tables) if artifact.counts else [])
    raise ValueError(f"unknown target {target!r}; expected one of {known_targets(plan)}")


def _runs(plan: Plan, paper: str, tables: Sequence[str] | None) -> list[str]:
    chosen = [spec for (p, t), spec in plan.tables.items() if p == paper and (tables is None or t in tables)]
    names = [n for spec in chosen for n in spec["runs"]]
    return list(dict.fromkeys(plan.run_names[n] for n in names))


def known_targets(plan: Plan) -> list[str]:
    out = list(WHOLE)
    for paper in plan.papers:
        if not artifacts_of(paper):
            continue
        out += [paper, *(a.target for a in Paths(plan.results).artifacts(plan, paper)), f"{paper}_readme"]
        out += [f"{paper}_published_logs"] if plan.papers[paper]["published_logs"] is not None else []
    return out


@dataclass(frozen=True)
class Line:
    """One line of the bill: ``jobs`` SLURM jobs, ``gpu_hours`` and ``cpu_hours`` (of the sized
    jobs), ``unsized`` jobs whose size is not known before the data is read."""

    section: str
    item: str
    jobs: int
    gpu_hours: float
    cpu_hours: float
    unsized: int


def total(section: str, item: str, jobs: Iterable[GpuJob]) -> Line:
    jobs = list(jobs)
    sized = [j for j in jobs if j.hours is not None]
    return Line(
        section,
        item,
        sum(j.count for j in jobs),
        sum(j.hours or 0.0 for j in sized),
        sum(j.cpu_hours or 0.0 for j in sized),
        sum(j.count for j in jobs if j.hours is None),
    )


def local_jobs(plan: Plan, runs: Sequence[str]) -> int:
    """Local (CPU) jobs of the runs' tables: a merge per run, a metrics job per metrics variant."""
    variants = {(e.variant.run_key, e.variant.key) for e in plan.entries if e.variant.run_key in set(runs)}
    return len(runs) + len(variants)


def bill(plan: Plan, targets: Sequence[str] = ("all",)) -> list[Line]:
    """The lines of the bill of ``targets``: per rule, per target, per paper table and artifact whose
    runs the targets certify, the local jobs and the total (each job once)."""
    per_target = {t: target_jobs(plan, t) for t in targets}
    jobs = {k: v for found in per_target.values() for k, v in found.items()}
    lines = [total("rule", rule, [j for (r, _), j in jobs.items() if r == rule]) for rule in GPU_RULES]
    lines += [total("target", t, found.values()) for t, found in per_target.items()]
    needed = {key for (rule, key) in jobs if rule == "certify_shard"}
    for (paper, table), spec in plan.tables.items():
        runs = [plan.run_names[n] for n in spec["runs"]]
        if set(runs) <= needed:
            lines.append(total("table", f"{paper}/{table}", gpu_jobs(plan, runs).values()))
    for paper in plan.papers:
        for artifact in Paths(plan.results).artifacts(plan, paper):
            found = target_jobs(plan, artifact.target)
            if found and {key for rule, key in found if rule == "certify_shard"} <= needed:
                lines.append(total("artifact", artifact.target, found.values()))
    lines.append(Line("local", "merge + metrics", local_jobs(plan, sorted(needed)), 0.0, 0.0, 0))
    return [*lines, total("total", "all GPU jobs", jobs.values())]


def largest_jobs(plan: Plan, targets: Sequence[str] = ("all",), count: int = 10) -> list[GpuJob]:
    """The ``count`` job groups of ``targets`` with the most GPU-hours (unsized ones first)."""
    jobs = {k: v for t in targets for k, v in target_jobs(plan, t).items()}
    return sorted(jobs.values(), key=lambda j: -(j.hours if j.hours is not None else math.inf))[:count]


HEADINGS = {
    "rule": "by rule",
    "target": "by target (a job shared by targets counts in each)",
    "table": "by paper table (its runs, their models, teachers and pre-trained starts)",
    "artifact": "by paper artifact (the tables that build it)",
    "local": "local jobs (one CPU each on the submitting machine; seconds to minutes each, not sized)",
    "total": "total (each job once)",
}


def _hours_text(hours: float | None) -> str:
    return "?" if hours is None else f"{hours:,.1f}"


def format_bill(lines: Sequence[Line], largest: Sequence[GpuJob] = ()) -> str:
    """A readable text table of :func:`bill`'s lines, then the ``largest`` job groups."""
    width = max(len(line.item) for line in lines)
    out: list[str] = []
    for section, heading in HEADINGS.items():
        chosen = [line for line in lines if line.section == section]
        if not chosen:
            continue
        out += ["", heading]
        if section == "local":
            out += [f"  {line.item:<{width}}  {line.jobs:>6} jobs" for line in chosen]
            continue
        out.append(f"  {'':<{width}}  {'jobs':>6}  {'GPU-hours':>10}  {'CPU-hours':>10}  not sized")
        for line in chosen:
            unsized = f"{line.unsized} jobs" if line.unsized else ""
            out.append(
                f"  {line.item:<{width}}  {line.jobs:>6}  {line.gpu_hours:>10,.1f}  {line.cpu_hours:>10,.1f}  {unsized}"
            )
    if largest:
        out += ["", "largest job groups: GPU-hours in all; hours of the longest job, wall time it asks for"]
        for job in largest:
            jobs = f"{job.count} job" + ("s" if job.count != 1 else "")
            over = f" (x margin: {job.allocations} allocations at max_minutes)" if job.allocations > 1 else ""
            out.append(
                f"  {_hours_text(job.hours):>9} h  {job.rule} {job.name} ({job.where}, {jobs}): "
                f"{_hours_text(job.longest)} h each, asks {job.asked:,.1f} h{over}"
            )
    return "\n".join(out[1:])
