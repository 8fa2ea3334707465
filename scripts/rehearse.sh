#!/usr/bin/env bash
# The rehearsal of the full reproduction: every job of `snakemake --cores all` (config.yaml: paper-size networks,
# paper windows and bins, every experiment and seed list) runs here on stand-ins of every DANDI asset, through
# the normal download (mirror) -> convert -> train -> align -> transfer -> tables -> figures -> scorecard path,
# with one override: rehearsal.max_steps caps every optimisation loop. Everything goes to results/rehearsal/
# (never mixed with real results); every figure, table and scorecard row it renders says "rehearsal".
#
#   bash scripts/rehearse.sh                      # the whole full configuration (2 CPU cores)
#   bash scripts/rehearse.sh --gpu                # training jobs on the GPU: steps/s, samples/s, peak GPU memory
#   bash scripts/rehearse.sh -- TARGET ...        # extra arguments after -- go to snakemake (e.g. -n, a target)
#
# Environment: REHEARSAL_DIR (default results/rehearsal), REHEARSAL_SCALE (fraction of each file's trials,
# default 0.04; MC_Maze train is always full size), REHEARSAL_MAX_STEPS (default 2), REHEARSAL_CORES (2),
# REHEARSAL_CONFIG (extra config overlays, space separated, e.g. the CI slice's), REHEARSAL_ONLY (asset file
# names to generate; default every asset of the config), REHEARSAL_MIN_TRIALS (floors, e.g. train=40,locked=100),
# REHEARSAL_FULL (asset keys written at full size; set empty for none; default MC_Maze train), REHEARSAL_OMIT (rules
# left out with what depends on them; default on a machine without CUDA: neurodyn.rehearsal.CPU_OMIT; empty: none),
# REHEARSAL_FRESH=1 (start over instead of resuming), REHEARSAL_JOB_LIMIT_S (a job still running after this is
# stopped and flagged in the jobs table; default 1200; 0: no limit), REHEARSAL_BUDGET_S (the wall-time budget
# the jobs table and the last lines compare the run with, naming the costliest rules when it is over; default 1800).
set -euo pipefail
# the body is one function, read whole before it runs: editing this file during a run cannot change the run
main() {
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
ROOT=$PWD
GPU=0
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --gpu) GPU=1; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "rehearse.sh: unknown argument $1 (use --gpu, or -- SNAKEMAKE_ARGS...)" >&2; exit 2 ;;
  esac
done
R=${REHEARSAL_DIR:-results/rehearsal}
mkdir -p "$R"
R=$(cd "$R" && pwd)
SCALE=${REHEARSAL_SCALE:-0.04}
STEPS=${REHEARSAL_MAX_STEPS:-2}
CORES=${REHEARSAL_CORES:-2}
PROFILE=profiles/slurm/config.v8+.yaml
read -r -a CONFIGS <<< "config.yaml ${REHEARSAL_CONFIG:-}"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMEXPR_NUM_THREADS=1 PYTHONHASHSEED=0

if [ "$GPU" = 1 ]; then
  exec python -m neurodyn rehearse gpu --rehearsal-dir "$R" --config "${CONFIGS[@]}" --steps "${REHEARSAL_GPU_STEPS:-20}"
fi

t0=$(date +%s)
echo "neurodyn rehearse: stand-ins of every asset of ${CONFIGS[*]} (scale $SCALE) -> $R/standins" >&2
ONLY=()
[ -n "${REHEARSAL_ONLY:-}" ] && read -r -a ONLY <<< "--only $REHEARSAL_ONLY"
nice -n 5 python -m neurodyn rehearse standins --config "${CONFIGS[@]}" --out "$R/standins" --scale "$SCALE" \
  --max-steps "$STEPS" --min-trials "${REHEARSAL_MIN_TRIALS:-}" ${REHEARSAL_FULL+--full $REHEARSAL_FULL} "${ONLY[@]}"
t1=$(date +%s)

# Snakemake runs in its own directory: its results/ tree is the rehearsal's, never the real one.
RUN="$R/run"
mkdir -p "$RUN" "$R/bin"
for f in "${CONFIGS[@]}"; do
  mkdir -p "$RUN/$(dirname "$f")"; ln -sfn "$ROOT/$f" "$RUN/$f"
done
mkdir -p "$RUN/src/neurodyn/report"
ln -sfn "$ROOT/src/neurodyn/report/published" "$RUN/src/neurodyn/report/published"
cat > "$R/bin/neurodyn" <<EOF
#!/usr/bin/env bash
exec "$(command -v python)" -m neurodyn rehearse probe "\$@"
EOF
chmod +x "$R/bin/neurodyn"
export PATH="$R/bin:$PATH" NEURODYN_REHEARSAL_JOBS_LOG="$R/probe.jsonl" NEURODYN_REHEARSAL_JOB_LIMIT_S="${REHEARSAL_JOB_LIMIT_S:-1200}"
# a second call resumes (Snakemake skips finished jobs): both logs are appended, the jobs table reads them whole
# and keeps each job's last run. REHEARSAL_FRESH=1 starts over (removes results/rehearsal/run and the logs).
if [ "${REHEARSAL_FRESH:-0}" = 1 ]; then rm -rf "$RUN/results" "$RUN/.snakemake" "$R/probe.jsonl" "$R/snakemake.log"; mkdir -p "$RUN"; fi
echo "=== neurodyn rehearse: snakemake started $(date -u +%FT%TZ) ===" >> "$R/snakemake.log"
# the SLURM profile's default-resources, so each job's printed resources are what profiles/slurm requests
mapfile -t DEFRES < <(python -c "import yaml,sys; d=yaml.safe_load(open('$PROFILE')).get('default-resources') or {}; print('\n'.join(f'{k}={v}' for k,v in d.items()))")
# paper-scale jobs that a CPU machine cannot finish in the rehearsal's budget (neurodyn.rehearsal.CPU_OMIT)
if python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  OMIT=${REHEARSAL_OMIT-}
else
  OMIT=${REHEARSAL_OMIT-$(python -c "from neurodyn.rehearsal import CPU_OMIT; print(' '.join(CPU_OMIT))")}
fi
OMITARGS=()
if [ -n "$OMIT" ]; then
  read -r -a OMITARGS <<< "--omit-from $OMIT"
  python - "$OMIT" <<'PY' | tee "$R/omitted.md" >&2
import sys
from neurodyn.rehearsal import CPU_OMIT
for rule in sys.argv[1].split():
    print(f"neurodyn rehearse: left out (with every job that needs it): {rule}: {CPU_OMIT.get(rule, 'REHEARSAL_OMIT')}")
PY
else
  rm -f "$R/omitted.md"
fi
CFGARGS=()
for f in "${CONFIGS[@]}"; do CFGARGS+=("$ROOT/$f"); done
CFGARGS+=("$R/standins/overlay.yaml")
set +e
# --omit-from and --default-resources take every word up to the next option: a flag must follow each, or the
# targets in EXTRA would be read as rules to omit (the CI slice then built nothing it asked for)
nice -n 5 snakemake -s "$ROOT/Snakefile" -d "$RUN" --configfile "${CFGARGS[@]}" --cores "$CORES" \
  "${OMITARGS[@]}" --default-resources "${DEFRES[@]}" --keep-going --rerun-incomplete --printshellcmds "${EXTRA[@]}" \
  2>&1 | tee -a "$R/snakemake.log" >&2
rc=${PIPESTATUS[0]}
set -e
t2=$(date +%s)
python -m neurodyn rehearse jobs --snakemake-log "$R/snakemake.log" --probe-log "$R/probe.jsonl" --profile "$PROFILE" \
  --workdir "$RUN" --out "$R/jobs.md" --csv "$R/jobs.csv" --elapsed-s "$((t2 - t0))" --budget-s "${REHEARSAL_BUDGET_S:-1800}" \
  --title "# Rehearsal jobs ($(date -u +%FT%TZ), $CORES cores, max_steps $STEPS, scale $SCALE): peak memory and wall time vs profiles/slurm"
{
  echo ""
  echo "Wall time: stand-ins $((t1 - t0)) s, Snakemake $((t2 - t1)) s, total $((t2 - t0)) s; snakemake exit status $rc."
} >> "$R/jobs.md"
echo "neurodyn rehearse: stand-ins $((t1 - t0)) s, snakemake $((t2 - t1)) s, total $((t2 - t0)) s (exit $rc); jobs table $R/jobs.md" >&2
if [ "$rc" != 0 ]; then
  echo "neurodyn rehearse: not every job finished; failed jobs and the last line of their logs (also in $R/jobs.md):" >&2
  python -m neurodyn rehearse jobs --snakemake-log "$R/snakemake.log" --probe-log "$R/probe.jsonl" --profile "$PROFILE" \
    --workdir "$RUN" --out "$R/failed.md" --failed-only >&2 || true
fi
exit "$rc"
}
main "$@"
