#!/usr/bin/env bash
# Makes .venv with every pinned dependency. Idempotent: a second run with an
# unchanged requirements.txt only checks a stamp and returns in well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "gonogo needs Python 3.10-3.12 (found: $("$python" --version 2>&1)). Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi

[ -x .venv/bin/python ] || "$python" -m venv .venv

stamp=.venv/.gonogo-requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  uv_pin=$(grep -E '^uv==' requirements.txt)
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "$uv_pin"
  .venv/bin/uv pip install --quiet --python .venv/bin/python -r requirements.txt
  echo "$want" >"$stamp"
fi

# include/ (the domain library, the sample app) and plugins/ (Airflow glue) are
# importable from the venv, as they are for Airflow's own processes.
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
printf '%s\n%s\n' "$root/include" "$root/plugins" >"$site/gonogo_paths.pth"
