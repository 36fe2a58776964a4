# Sourced by scripts/demo and scripts/test: create .venv and install the project once.
# Re-installs only when pyproject.toml changes (a stamp holds its hash).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${AIRFLOW_LINEAGE_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

# pip, without the notes some machines' pip configuration prints for every package.
quiet_pip() {
  "$VENV/bin/python" -m pip --quiet --disable-pip-version-check "$@" 2>&1 \
    | { grep -vE "^WARNING: Location '.*' is ignored" || true; }
  return "${PIPESTATUS[0]}"
}

ensure_venv() {
  local extras=$1 stamp want
  stamp="$VENV/.installed-$extras"
  want=$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "==> installing airflow-lineage[$extras] into $VENV"
    quiet_pip install --upgrade pip
    quiet_pip install -e "$ROOT[$extras]"
    echo "$want" > "$stamp"
  fi
}
