#!/usr/bin/env bash
# Snakemake runs this once, inside a conda environment it has just created from the env file of
# the same name, in the workflow's working directory (the repository root, as the README runs
# it). It installs this repository's `randsmooth` package into that environment:
#   editable      -> source changes need no rebuild (the env hash covers only the env file),
#   --no-deps     -> every dependency comes from the conda env file, never from PyPI,
#   no isolation  -> the build backend (setuptools, wheel) comes from the env file too.
# Set RANDSMOOTH_SRC to the repository when Snakemake runs with --directory elsewhere.
set -euo pipefail
src="${RANDSMOOTH_SRC:-$PWD}"
if ! grep -qs '^name = "randsmooth"' "$src/pyproject.toml"; then
    echo "post-deploy: '$src' is not the randsmooth repository (no pyproject.toml naming" \
         "randsmooth); run Snakemake from the repository root or set RANDSMOOTH_SRC" >&2
    exit 1
fi
python -m pip install --no-deps --no-build-isolation --editable "$src"
