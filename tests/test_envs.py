"""The conda environment files in envs/ agree with pyproject.toml.

Every [project] dependency must be in each environment that gets randsmooth installed into it
(training, analysis), under its conda-forge name, with a lower bound at least pyproject's and
admitting the versions pinned in constraints.txt. Snakemake's own packages belong to
envs/driver.yaml. The post-deploy script that installs randsmooth is exercised with a stub
``python``.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO_ROOT = Path(__file__).resolve().parents[1]
ENVS = REPO_ROOT / "envs"
PACKAGE_ENVS = ("training", "analysis")  # environments that randsmooth is installed into
DRIVER_PACKAGES = {"snakemake", "snakemake-executor-plugin-slurm"}

# PyPI name -> acceptable conda-forge names (default: the same name)
CONDA_NAMES = {
    "torch": ("pytorch", "pytorch-cpu", "pytorch-gpu"),
    "matplotlib": ("matplotlib-base", "matplotlib"),
}


def pyproject() -> dict[str, Any]:
    with open(REPO_ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)


def requirements() -> list[Requirement]:
    """[project] dependencies, plus optional ones that name a driver package."""
    project = pyproject()["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in project.get("optional-dependencies", {}).values():
        reqs += [r for r in map(Requirement, extra) if canonicalize_name(r.name) in DRIVER_PACKAGES]
    return reqs


def package_requirements() -> list[Requirement]:
    return [r for r in requirements() if canonicalize_name(r.name) not in DRIVER_PACKAGES]


def constraint_pins() -> dict[str, Version]:
    """Exact pins from constraints.txt (``name==version`` lines)."""
    pins = {}
    path = REPO_ROOT / "constraints.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            exact = [s.version for s in req.specifier if s.operator == "=="]
            if exact:
                pins[canonicalize_name(req.name)] = Version(exact[0])
    return pins


def load_env(name: str) -> dict[str, Any]:
    with open(ENVS / f"{name}.yaml", encoding="utf-8") as handle:
        env = yaml.safe_load(handle)
    assert isinstance(env, dict), f"envs/{name}.yaml: expected a mapping"
    return env


def conda_specs(env: dict[str, Any]) -> dict[str, str]:
    """Conda dependency name -> version spec text ('' when unconstrained)."""
    specs = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            name, _, spec = dep.partition(" ")
            specs[name] = spec.strip()
    return specs


def pip_specs(env: dict[str, Any]) -> list[str]:
    return [p for dep in env["dependencies"] if isinstance(dep, dict) for p in dep.get("pip", [])]


def to_specifier(conda_spec: str) -> SpecifierSet:
    """Translate the conda version specs used in envs/ (>=, <, ==, =X fuzzy) to PEP 440."""
    parts = []
    for part in filter(None, (p.strip() for p in conda_spec.split(","))):
        fuzzy = re.fullmatch(r"=([0-9][0-9.]*)", part)
        if fuzzy:
            parts.append(f"=={fuzzy.group(1)}.*")
        elif re.fullmatch(r"(>=|<=|<|>|==|!=)[0-9][0-9.*]*", part):
            parts.append(part)
        else:
            raise ValueError(f"conda spec {conda_spec!r}: unsupported part {part!r}")
    return SpecifierSet(",".join(parts))


def lower_bound(specifier: SpecifierSet) -> Version | None:
    bounds = [Version(s.version.rstrip(".*")) for s in specifier if s.operator in (">=", "==")]
    return max(bounds) if bounds else None


def conda_entry(specs: dict[str, str], pypi_name: str) -> tuple[str, str] | None:
    for conda_name in CONDA_NAMES.get(pypi_name, (pypi_name,)):
        if conda_name in specs:
            return conda_name, specs[conda_name]
    return None


def test_to_specifier_translation() -> None:
    assert to_specifier(">=1.26") == SpecifierSet(">=1.26")
    assert to_specifier("=3.11") == SpecifierSet("==3.11.*")
    assert to_specifier(">=2.4,<3") == SpecifierSet(">=2.4,<3")
    with pytest.raises(ValueError, match="unsupported"):
        to_specifier("~=1.2")


def test_pyproject_has_dependencies() -> None:
    names = {canonicalize_name(r.name) for r in package_requirements()}
    assert {"numpy", "scipy", "torch"} <= names


@pytest.mark.parametrize("env_name", PACKAGE_ENVS)
@pytest.mark.parametrize("req", package_requirements(), ids=lambda r: r.name)
def test_dependency_in_env_with_compatible_spec(env_name: str, req: Requirement) -> None:
    pypi_name = canonicalize_name(req.name)
    entry = conda_entry(conda_specs(load_env(env_name)), pypi_name)
    expected = CONDA_NAMES.get(pypi_name, (pypi_name,))
    assert entry is not None, f"envs/{env_name}.yaml lacks {req.name} (as one of {expected})"
    conda_name, spec_text = entry
    spec = to_specifier(spec_text)
    conda_min = lower_bound(spec)
    assert conda_min is not None, f"envs/{env_name}.yaml: {conda_name} needs a lower bound"
    py_min = lower_bound(req.specifier)
    if py_min is not None:
        assert conda_min >= py_min, (
            f"envs/{env_name}.yaml: {conda_name} {spec_text} admits versions below pyproject's {req}"
        )
    pin = constraint_pins().get(pypi_name)
    if pin is not None:
        assert spec.contains(pin, prereleases=True), (
            f"envs/{env_name}.yaml: {conda_name} {spec_text} excludes constraints.txt's {pin}"
        )


@pytest.mark.parametrize("env_name", [*PACKAGE_ENVS, "driver"])
def test_env_channels_and_python(env_name: str) -> None:
    env = load_env(env_name)
    assert env["name"] == f"randsmooth-{env_name}"
    assert env["channels"][0] == "conda-forge"
    assert "defaults" not in env["channels"] and "nodefaults" in env["channels"]
    python = to_specifier(conda_specs(env)["python"])
    required = SpecifierSet(pyproject()["project"]["requires-python"])
    assert lower_bound(python) is not None and lower_bound(python) in required
    # Snakemake copies env files to .snakemake/conda/: relative pip paths would break there
    for entry in pip_specs(env):
        assert not entry.startswith(("-e", ".", "/")), f"envs/{env_name}.yaml: pip {entry!r}"


def test_driver_env_pins_snakemake() -> None:
    env = load_env("driver")
    assert to_specifier(conda_specs(env)["python"]) == SpecifierSet("==3.11.*")
    pins = {canonicalize_name(req.name): req.specifier for req in map(Requirement, pip_specs(env))}
    assert pins["snakemake"] == SpecifierSet("==9.27.*")
    assert pins["snakemake-executor-plugin-slurm"] == SpecifierSet("==2.8.*")
    # where pyproject names these packages too, the series must agree
    for req in requirements():
        name = canonicalize_name(req.name)
        if name in DRIVER_PACKAGES:
            for probe in ("9.27.1", "2.8.0"):
                if pins[name].contains(probe):
                    assert req.specifier.contains(probe), f"pyproject {req} vs driver {pins[name]}"


# ---------------------------------------------------------------- post-deploy script


@pytest.fixture
def stub_python(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A fake ``python`` first on PATH that records its arguments instead of running pip."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "python-args.txt"
    stub = bin_dir / "python"
    stub.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{record}"\n', encoding="utf-8")
    stub.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "RANDSMOOTH_SRC"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env, record


def run_post_deploy(name: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = ENVS / f"{name}.post-deploy.sh"
    return subprocess.run(
        ["bash", str(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("name", PACKAGE_ENVS)
def test_post_deploy_installs_repository(name: str, stub_python: tuple[dict[str, str], Path], tmp_path: Path) -> None:
    env, record = stub_python
    result = run_post_deploy(name, REPO_ROOT, env)
    assert result.returncode == 0, result.stderr
    expected = ["-m", "pip", "install", "--no-deps", "--no-build-isolation", "--editable"]
    assert record.read_text().splitlines() == [*expected, str(REPO_ROOT)]

    # from elsewhere: refuses clearly, unless RANDSMOOTH_SRC names the repository
    record.unlink()
    result = run_post_deploy(name, tmp_path, env)
    assert result.returncode == 1 and "RANDSMOOTH_SRC" in result.stderr
    assert not record.exists()
    result = run_post_deploy(name, tmp_path, {**env, "RANDSMOOTH_SRC": str(REPO_ROOT)})
    assert result.returncode == 0, result.stderr
    assert record.read_text().splitlines() == [*expected, str(REPO_ROOT)]


def test_every_rule_conda_env_resolves_from_its_own_file() -> None:
    """Snakemake resolves a rule's ``conda:`` path relative to the file that declares the rule: the
    env constants of common.smk (relative to workflow/rules/) serve only rules declared there (the
    check target, once in the Snakefile, pointed outside the repository)."""
    common = (REPO_ROOT / "workflow" / "rules" / "common.smk").read_text()
    envs = dict(re.findall(r'^(\w+_ENV) = "([^"]+)"$', common, re.MULTILINE))
    assert set(envs) == {"TRAINING_ENV", "ANALYSIS_ENV"}, envs
    used = 0
    for path in [REPO_ROOT / "Snakefile", *sorted((REPO_ROOT / "workflow" / "rules").glob("*.smk"))]:
        for name in re.findall(r"^\s+conda:\s*\n\s+(\S+)", path.read_text(), re.MULTILINE):
            assert name in envs, f"{path.name}: conda: {name} is not one of {sorted(envs)}"
            assert (path.parent / envs[name]).resolve().is_file(), f"{path.name}: conda: {name} -> {envs[name]}"
            used += 1
    assert used >= 15, used
