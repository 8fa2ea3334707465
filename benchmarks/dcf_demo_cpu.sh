#!/usr/bin/env bash
# CPU seconds (user + sys) of every job of the DCF demo, run one after another (wall time on a shared machine
# is inflated by other load; CPU time is what the 2-core budget is about). Prints one line per job and the total.
# Usage: bash benchmarks/dcf_demo_cpu.sh [extra snakemake args]   (re-runs every DCF job: results/ is overwritten)
set -euo pipefail
export OMP_NUM_THREADS=1   # as Snakemake sets it for a 1-thread job
cd "$(dirname "${BASH_SOURCE[0]}")/.."
targets="results/scorecard/dcf.json $(for f in ball rmae ball-comparison keff neural-latents stability; do printf 'results/figures/dcf/%s.pdf ' "$f"; done)"
mapfile -t cmds < <(snakemake -n -p --forceall --profile profiles/demo "$@" $targets 2>&1 | sed -n 's/^Shell command: //p')
# the dry run lists jobs in an order that respects dependencies only per level: sort by stage
order() { case "$1" in *"neurodyn simulate"*) echo 0;; *"neurodyn convert"*) echo 1;; *"neurodyn train"*) echo 2;; *"neurodyn table"*) echo 3;; *) echo 4;; esac; }
total=0
for stage in 0 1 2 3 4; do
  for c in "${cmds[@]}"; do
    [ "$(order "$c")" = "$stage" ] || continue
    out=$(echo "$c" | grep -o -- '--out [^ ]*\|--out-dir [^ ]*' | head -1 | cut -d' ' -f2)
    rm -rf "$out"
    t=$( { /usr/bin/time -f '%U %S' bash -c "set -euo pipefail; $c" ; } 2>&1 >/dev/null | tail -1)
    cpu=$(echo "$t" | awk '{printf "%.1f", $1 + $2}')
    total=$(echo "$total $cpu" | awk '{printf "%.1f", $1 + $2}')
    printf '%7s s  %s\n' "$cpu" "$(echo "$c" | cut -c1-60) ... $out"
  done
done
echo "total CPU: $total s (budget: 360 s = 3 min x 2 cores)"
