#!/usr/bin/env bash
# A real one-node SLURM cluster on localhost, for testing the SLURM profile (tests/e2e/test_slurm.py, CI).
#
#   bash scripts/slurm-local.sh check    can this machine host it? (prints the reason when not)
#   bash scripts/slurm-local.sh start    install (Debian packages, only if missing) and start it; idempotent
#   bash scripts/slurm-local.sh status   daemons and node state
#   bash scripts/slurm-local.sh stop     cancel its jobs, stop the daemons this script started (by PID)
#
# Exit status: 0 done; 1 failed (logs shown); 2 usage; 3 this machine cannot host the cluster (not root, no
# apt-get, packages not installable, a foreign SLURM setup present) — tests skip on 3 and print the reason.
#
# What it sets up (Debian bookworm's SLURM 22.05; see ../shared/SLURM-LOCAL.md for the tested recipe):
# munged, slurmctld and slurmd started directly (no systemd), each writing its PID into $STATE; `stop` kills
# exactly those PIDs. One node named `hostname -s` at 127.0.0.1 with the detected CPUs, memory minus 512 MB
# (a node claiming more than slurmd detects is drained), and $NEURODYN_SLURM_GPUS fake GPUs (default 2):
# gres/gpu entries backed by harmless character devices (/dev/null, ...) — SLURM drops file-less GPUs — so
# `--gpus=N` requests are really scheduled and jobs see CUDA_VISIBLE_DEVICES / SLURM_JOB_GPUS, while torch
# sees no CUDA and our code runs on CPU. Partitions: debug (default), short (1 h limit), gpu.
# No accounting database: Snakemake's SLURM plugin must then read job states from squeue
# (`slurm-status-command: squeue`, profiles/slurm-ci), which needs finished jobs to stay visible:
# MinJobAge=600 (the plugin requires MinJobAge >= 3 x init_seconds_before_status_checks).
# Jobs run as root, which this private cluster allows.
set -euo pipefail

STATE=/run/neurodyn-slurm            # PID files of the daemons this script started
MARK="# written by neurodyn scripts/slurm-local.sh"
CONF=/etc/slurm/slurm.conf
GPUS=${NEURODYN_SLURM_GPUS:-2}
PACKAGES=(slurmctld slurmd slurm-client munge)

say() { echo "slurm-local: $*" >&2; }
cannot() { say "cannot host a local SLURM cluster here: $*"; exit 3; }
STARTING=0
fail() {
  say "error: $*"
  for log in /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log /var/log/munge/munged.log; do
    [ -s "$log" ] && { echo "--- last lines of $log" >&2; tail -n 15 "$log" >&2; }
  done
  if [ "$STARTING" = 1 ]; then STARTING=0; stop || true; fi   # leave nothing half-started behind
  exit 1
}

# --- prerequisites -------------------------------------------------------------------------------------
have_binaries() {
  local b
  for b in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/sbin/munged; do [ -x "$b" ] || return 1; done
  for b in sinfo squeue scontrol sbatch srun scancel munge unmunge; do command -v "$b" >/dev/null || return 1; done
}

check() {
  [ "$(uname -s)" = Linux ] || cannot "needs Linux (found $(uname -s))"
  [ "$(id -u)" -eq 0 ] || cannot "needs root (it writes /etc/slurm and starts system daemons); run as root or skip"
  if ! have_binaries && ! command -v apt-get >/dev/null; then
    cannot "SLURM and munge are not installed and there is no apt-get to install them (${PACKAGES[*]})"
  fi
  if [ -e "$CONF" ] && ! grep -qxF "$MARK" "$CONF"; then
    cannot "$CONF exists and was not written by this script (a real SLURM setup?); refusing to overwrite it"
  fi
  [[ "$GPUS" =~ ^[0-4]$ ]] || cannot "NEURODYN_SLURM_GPUS must be 0..4 (got '$GPUS')"
}

install() {
  have_binaries && return 0
  say "installing ${PACKAGES[*]} (Debian packages) ..."
  export DEBIAN_FRONTEND=noninteractive
  # keep the packages' init scripts / systemd units from starting daemons: this script starts its own
  local policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"
  fi
  local ok=0
  if apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null; then ok=1; fi
  [ -n "$policy" ] && rm -f "$policy"
  [ "$ok" = 1 ] || cannot "apt-get could not install ${PACKAGES[*]} (no network or no Debian repository?)"
  have_binaries || cannot "installed ${PACKAGES[*]} but the daemons or clients are still missing"
}

# --- PIDs ------------------------------------------------------------------------------------------------
# alive NAME: the daemon NAME we started is running (PID file present, process alive and really NAME —
# a stale file whose PID was reused by another program does not count)
alive() {
  local pf="$STATE/$1.pid" pid
  [ -s "$pf" ] || return 1
  pid=$(cat "$pf")
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ]
}

wait_for() {  # wait_for SECONDS COMMAND...: poll every 0.2 s
  local tries=$(($1 * 5)); shift
  for _ in $(seq "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}

munge_works() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }
ctld_up() { scontrol ping | grep -q UP; }
# up, or fail at once when the daemon died during start-up (e.g. a fatal config error) instead of waiting
wait_daemon() {  # wait_daemon NAME SECONDS READY-COMMAND...
  local name=$1 tries=$(($2 * 5)); shift 2
  for i in $(seq "$tries"); do
    "$@" >/dev/null 2>&1 && return 0
    [ "$i" -gt 10 ] && ! alive "$name" && fail "$name exited during start-up"
    sleep 0.2
  done
  fail "$name did not become ready in time"
}
node_ready() { sinfo -h -o %T | grep -qE '^(idle|mixed|allocated|completing)$'; }

# --- configuration ---------------------------------------------------------------------------------------
write_config() {
  local host node cpus sockets cores threads mem
  host=$(hostname -s)
  node=$(/usr/sbin/slurmd -C | head -1)   # "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 ... RealMemory=24105"
  field() { sed -n "s/.*[[:space:]]$1=\([0-9]*\).*/\1/p" <<<"$node"; }
  cpus=$(field CPUs); sockets=$(field SocketsPerBoard); cores=$(field CoresPerSocket)
  threads=$(field ThreadsPerCore); mem=$(field RealMemory)
  [ -n "$cpus" ] && [ -n "$mem" ] || fail "could not read CPUs/RealMemory from 'slurmd -C': $node"
  mem=$((mem - 512))  # headroom: a node configured above what slurmd detects is drained as INVAL

  mkdir -p /etc/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm
  chown slurm:slurm /var/lib/slurm/slurmctld /var/log/slurm

  local gres_types="" gres_node=""
  if [ "$GPUS" -gt 0 ]; then
    local files
    files=$(printf '%s\n' /dev/null /dev/zero /dev/full /dev/urandom | head -n "$GPUS" | paste -sd, -)
    printf '%s\nNodeName=%s Name=gpu File=%s\n' "$MARK" "$host" "$files" > /etc/slurm/gres.conf
    gres_types="GresTypes=gpu"; gres_node="Gres=gpu:$GPUS"
  else
    rm -f /etc/slurm/gres.conf
  fi

  cat > "$CONF" <<CONF
$MARK
ClusterName=neurodyn-local
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
MailProg=/bin/true
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldPort=6817
SlurmdPort=6818
SlurmdSpoolDir=/var/lib/slurm/slurmd
StateSaveLocation=/var/lib/slurm/slurmctld
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# a job that names no memory gets 1 GB per CPU, not the whole node (which would serialize everything)
DefMemPerCPU=1000
# no accounting database: sacct does not work, job states come from squeue
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
# finished jobs stay visible to squeue/scontrol for 10 min (status checks and the tests read them)
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
Waittime=0
SlurmctldDebug=info
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdDebug=info
SlurmdLogFile=/var/log/slurm/slurmd.log
$gres_types
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus ${sockets:+SocketsPerBoard=$sockets} ${cores:+CoresPerSocket=$cores} ${threads:+ThreadsPerCore=$threads} RealMemory=$mem $gres_node State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=short Nodes=$host Default=NO MaxTime=01:00:00 State=UP
PartitionName=gpu Nodes=$host Default=NO MaxTime=INFINITE State=UP
CONF
}

# --- commands --------------------------------------------------------------------------------------------
start() {
  check
  install
  mkdir -p "$STATE"
  STARTING=1
  if alive slurmctld && alive slurmd && munge_works && ctld_up && node_ready; then
    say "already running"; status_table; return 0
  fi
  alive slurmctld || alive slurmd || write_config   # never rewrite the config under running daemons

  # munge: reuse a working munged (e.g. the machine's own); otherwise start ours
  mkdir -p /run/munge; chown munge:munge /run/munge; chmod 755 /run/munge
  if ! munge_works; then
    [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
    rm -f "$STATE/munged.pid"
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid   # daemonizes
    wait_for 10 munge_works || fail "munged did not answer"
    cp /run/munge/munged.pid "$STATE/munged.pid"
  fi

  if ! alive slurmctld; then
    /usr/sbin/slurmctld -c   # daemonizes; -c: clean start, forget jobs of an earlier run
    wait_daemon slurmctld 30 ctld_up
  fi
  if ! alive slurmd; then
    /usr/sbin/slurmd         # daemonizes; runs as root
  fi
  wait_daemon slurmd 60 node_ready
  STARTING=0
  status_table
}

status_table() {
  sinfo -o "%P %a %l %D %T %N %G %c %m" >&2
}

status() {
  local up=0 d
  for d in munged slurmctld slurmd; do
    if alive "$d"; then say "$d running (pid $(cat "$STATE/$d.pid"))"
    elif [ "$d" = munged ] && munge_works 2>/dev/null; then say "munged running (not started by this script)"
    else say "$d not running"; up=1; fi
  done
  if [ "$up" = 0 ] && node_ready 2>/dev/null; then status_table; return 0; fi
  return 1
}

stop_pid() {  # stop_pid NAME: SIGTERM the PID we recorded, wait, SIGKILL if it will not go
  local pid
  alive "$1" || { rm -f "$STATE/$1.pid"; return 0; }
  pid=$(cat "$STATE/$1.pid")
  kill "$pid"
  wait_for 20 bash -c "! kill -0 $pid" || { say "$1 (pid $pid) ignored SIGTERM; sending SIGKILL"; kill -9 "$pid" 2>/dev/null || true; }
  rm -f "$STATE/$1.pid"
  say "stopped $1 (pid $pid)"
}

stop() {
  [ "$(id -u)" -eq 0 ] || cannot "needs root"
  # jobs first, so no slurmstepd outlives the daemons (every job on this private cluster is ours)
  if alive slurmctld && ctld_up 2>/dev/null; then
    local jobs
    jobs=$(squeue -h -t PENDING,RUNNING,SUSPENDED,COMPLETING -o %i 2>/dev/null | tr '\n' ' ')
    if [ -n "${jobs// }" ]; then
      say "cancelling jobs $jobs"
      # shellcheck disable=SC2086
      scancel $jobs || true
      wait_for 30 bash -c '[ -z "$(squeue -h -t PENDING,RUNNING,SUSPENDED,COMPLETING -o %i)" ]' || say "jobs still ending"
    fi
  fi
  stop_pid slurmd
  stop_pid slurmctld
  stop_pid munged   # only when this script started it
  # Remove the configuration this script wrote: with it in place but no controller running, every
  # `scontrol` call (Snakemake's SLURM plugin makes one at start-up) waits ~9 s for a controller. `start`
  # writes it again.
  if [ -f "$CONF" ] && grep -qF "$MARK" "$CONF"; then
    rm -f "$CONF"
    if [ -f /etc/slurm/gres.conf ] && grep -qF "$MARK" /etc/slurm/gres.conf; then rm -f /etc/slurm/gres.conf; fi
    say "removed $CONF (written by this script; start writes it again)"
  fi
}

case "${1:-}" in
  check) check; have_binaries || say "SLURM packages will be installed with apt-get on start"; say "ok" ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 check|start|stop|status" >&2; exit 2 ;;
esac
