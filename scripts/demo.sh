#!/usr/bin/env bash
# The demo: every paper's rules at small scale, offline, on 2 CPU cores.
# Uses the local mirror ../shared/data when present (config/demo.yaml: mirror), simulations otherwise.
# Extra arguments go to snakemake, e.g. `bash scripts/demo.sh -n` or a single target.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
snakemake --profile profiles/demo "$@"
echo "neurodyn demo: done — figures in results/figures, tables in results/tables, scorecard in results/scorecard.md"
