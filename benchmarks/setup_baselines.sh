#!/usr/bin/env bash
# Creates benchmarks/.venv-baselines with Evidently and NannyML for the drift benchmark.
# They are benchmark baselines, never project dependencies. Evidently 0.7.x fails to
# import with pandas 3, so pandas is pinned below 3; NannyML needs statsmodels beside it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-baselines"
python="${PYTHON:-python3}"
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet "pandas<3" "evidently>=0.7,<0.8" nannyml statsmodels pyarrow psutil
"$venv/bin/python" -c "import evidently, nannyml, pandas; print('evidently', evidently.__version__, 'nannyml', nannyml.__version__, 'pandas', pandas.__version__)"
