#!/usr/bin/env bash
# Create bench/.venv-mlmd with Google's ml-metadata 1.17.1 for the query benchmark.
# It gets a virtualenv of its own: ml-metadata 1.17.1 pins protobuf<5 and attrs<24,
# while Airflow 3 (the project's environment) needs newer protobuf and attrs.
# The wheel is manylinux x86_64 for CPython 3.9-3.11 only.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
"$PY" -c 'import sys; assert sys.version_info[:2] <= (3, 11), "ml-metadata 1.17.1 ships wheels for Python <= 3.11"'
"$PY" -m venv .venv-mlmd
.venv-mlmd/bin/pip install --quiet "ml-metadata==1.17.1"
.venv-mlmd/bin/python -c 'import ml_metadata; print("ml-metadata", ml_metadata.__version__, "ready in bench/.venv-mlmd")'
