#!/usr/bin/env bash
# The test suite (what CI runs). Default: everything but the slow and SLURM tests.
#   bash scripts/test.sh            fast suite (unit, integration on ../shared/data, demo DAG end to end)
#   bash scripts/test.sh --slow     only the tests marked slow (larger training runs)
#   bash scripts/test.sh --slurm    only the SLURM tests (installs and starts a local one-node cluster; root)
# Other arguments go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
marker=()
case "${1:-}" in
  --slow) marker=(-m slow); shift ;;
  --slurm) marker=(-m slurm); shift ;;
esac
python -m pytest "${marker[@]}" "$@"
