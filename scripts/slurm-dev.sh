#!/usr/bin/env bash
# slurm-dev.sh — a real Slurm cluster on this one machine, for trainyard's Slurm backend
# tests and for development.
#
#   scripts/slurm-dev.sh start    install (Debian packages) + configure + start; idempotent
#   scripts/slurm-dev.sh stop     cancel every job, stop every daemon by pid file; safe when down
#   scripts/slurm-dev.sh status   exit 0 when the cluster answers and all nodes are usable
#   scripts/slurm-dev.sh purge    stop, drop the accounting DB and the state dir
#
# What runs (Debian 12: slurm-wlm 22.05.8, munge 0.5.15, mariadb 10.11):
#   munged (user munge), mariadbd + slurmdbd (so `sacct --json` works), slurmctld, and one
#   `slurmd -N nX` per node n1..nN, all on localhost with distinct ports. No systemd: every
#   daemon is started directly and stopped by the pid in its pid file, never by name.
#   proctrack/linuxproc + task/none: no cgroups needed (works in containers).
#
# Knobs (environment):
#   TRAINYARD_SLURM_NODES=4        nodes n1..nN
#   TRAINYARD_SLURM_CPUS=4         CPUs advertised per node (config_overrides: may exceed cores)
#   TRAINYARD_SLURM_MEM=1000       RealMemory (MB) per node
#   TRAINYARD_SLURM_ACCOUNTING=1   0 = no mariadb/slurmdbd (sacct then reports "disabled")
#   TRAINYARD_SLURM_ROOT=/var/tmp/trainyard-slurm   state/, spool/nX/, log/, run/*.pid
#
# Adapted from the recipe in ../shared/slurm/ (timings and gotchas in slurm-notes.md there).
# The config lives at /etc/slurm/slurm.conf, the default path, so clients need no SLURM_CONF.
set -euo pipefail

NODES=${TRAINYARD_SLURM_NODES:-4}
CPUS=${TRAINYARD_SLURM_CPUS:-4}
MEM=${TRAINYARD_SLURM_MEM:-1000}
ACCT=${TRAINYARD_SLURM_ACCOUNTING:-1}
R=${TRAINYARD_SLURM_ROOT:-/var/tmp/trainyard-slurm}
CLUSTER=trainyard
CONF=/etc/slurm/slurm.conf
DBDCONF=/etc/slurm/slurmdbd.conf
T0=$(date +%s%N)

log() { printf '[slurm-dev %6.1fs] %s\n' "$(( ($(date +%s%N) - T0) / 1000000 ))e-3" "$*" >&2; }
die() {
  log "ERROR: $*"
  for f in "$R"/log/*.log; do [ -f "$f" ] && { echo "--- tail $f" >&2; tail -n 15 "$f" >&2; }; done
  exit 1
}

# pid_of PIDFILE EXE: print the pid when the file names a live process of that program
# (checked through /proc/PID/exe so a recycled pid is never signalled).
pid_of() {
  local pf=$1 exe=$2 pid
  [ -s "$pf" ] || return 1
  pid=$(cat "$pf" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == */"$exe"* ]] || return 1
  echo "$pid"
}
wait_for() { # wait_for SECONDS WHAT CMD...
  local t=$1 what=$2; shift 2
  local end=$(( $(date +%s) + t ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || die "timeout (${t}s) waiting for $what"
    sleep 0.2
  done
}
# stop_pid PID NAME: SIGTERM, wait up to 15 s, then SIGKILL.
stop_pid() {
  local pid=$1 name=$2 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 75); do kill -0 "$pid" 2>/dev/null || { log "stopped $name ($pid)"; return 0; }; sleep 0.2; done
  log "SIGKILL $name ($pid)"; kill -KILL "$pid" 2>/dev/null || true
}
stop_pf() { local pid; if pid=$(pid_of "$1" "$2"); then stop_pid "$pid" "$3"; fi; rm -f "$1"; }
# live slurmstepd processes, found by executable (they outlive slurmd with linuxproc)
stepd_pids() {
  local p
  for p in /proc/[0-9]*; do
    [[ "$(readlink "$p/exe" 2>/dev/null)" == */slurmstepd* ]] && echo "${p#/proc/}"
  done
  return 0
}
usable_nodes() { # count of nodes that respond and can take work
  timeout 10 sinfo -h -N -o '%N %t' 2>/dev/null | awk '$2 ~ /^(idle|mix|alloc|comp)$/' | wc -l
}

# ------------------------------------------------------------------------ install
install_packages() {
  local need=()
  command -v munged >/dev/null || [ -x /usr/sbin/munged ] || need+=(munge)
  [ -x /usr/sbin/slurmctld ] || need+=(slurmctld)
  [ -x /usr/sbin/slurmd ] || need+=(slurmd)
  command -v sbatch >/dev/null || need+=(slurm-client)
  if [ "$ACCT" = 1 ]; then
    [ -x /usr/sbin/slurmdbd ] || need+=(slurmdbd)
    [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
  fi
  [ ${#need[@]} -gt 0 ] || return 0
  log "apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  local i own_policy=0 rc=0
  for i in 1 2 3; do apt-get -o DPkg::Lock::Timeout=300 update -qq && break; sleep 5; done
  # Postinst scripts try to start the daemons through invoke-rc.d; a policy-rc.d that
  # answers 101 keeps rival copies (with pid files we don't own) from starting.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; own_policy=1
  fi
  apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${need[@]}" \
    >"/tmp/trainyard-slurm-apt.log" 2>&1 || rc=$?
  [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || { tail -30 /tmp/trainyard-slurm-apt.log >&2; die "apt-get install failed"; }
  log "packages installed"
}

# ------------------------------------------------------------------------ config
write_config() {
  mkdir -p "$R"/{state,log,run,spool} /etc/slurm
  local i
  for i in $(seq 1 "$NODES"); do mkdir -p "$R/spool/n$i"; done # slurmd needs its spool dir
  getent hosts "$(hostname)" >/dev/null 2>&1 || echo "127.0.0.1 $(hostname)" >>/etc/hosts

  local acct="AccountingStorageType=accounting_storage/none"
  if [ "$ACCT" = 1 ]; then
    acct="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819"
  fi
  local conf dbd
  conf=$(cat <<EOF
# generated by trainyard scripts/slurm-dev.sh: a ${NODES}-node test cluster on one host
ClusterName=$CLUSTER
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# a requeued job may restart after cred_expire+1 s (Slurm's default 120 s is too slow for tests)
AuthInfo=cred_expire=10
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$R/state
SlurmdSpoolDir=$R/spool/%n
SlurmctldPidFile=$R/run/slurmctld.pid
SlurmdPidFile=$R/run/slurmd-%n.pid
SlurmctldLogFile=$R/log/slurmctld.log
SlurmdLogFile=$R/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# tests want low latency: main scheduler at most every 0.1 s, backfill every 1 s
SchedulerParameters=sched_min_interval=100000,bf_interval=1
SlurmdParameters=config_overrides
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
JobCompType=jobcomp/filetxt
JobCompLoc=$R/log/jobcomp.log
$acct
NodeName=n[1-$NODES] NodeHostname=localhost NodeAddr=127.0.0.1 Port=[17001-$((17000 + NODES))] CPUs=$CPUS Sockets=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
)
  dbd=$(cat <<EOF
# generated by trainyard scripts/slurm-dev.sh
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=root
DebugLevel=info
LogFile=$R/log/slurmdbd.log
PidFile=$R/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurmpw
StorageLoc=slurm_acct_db
EOF
)
  local changed=0
  [ "$(cat "$CONF" 2>/dev/null)" = "$conf" ] || changed=1
  if [ "$ACCT" = 1 ] && [ "$(cat "$DBDCONF" 2>/dev/null)" != "$dbd" ]; then changed=1; fi
  if [ "$changed" = 1 ]; then
    # slurm.conf changes (node names, ports) need a restart, not `scontrol reconfigure`.
    do_stop
    printf '%s\n' "$conf" >"$CONF"
    rm -f /etc/slurm/cgroup.conf
    if [ "$ACCT" = 1 ]; then
      printf '%s\n' "$dbd" >"$DBDCONF"
      chmod 600 "$DBDCONF" # slurmdbd refuses a readable conf: it holds a password
    fi
    log "wrote $CONF"
  fi
}

# ------------------------------------------------------------------------ start
start_munge() {
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    mungekey --create --keyfile=/etc/munge/munge.key --force
  fi
  chown munge:munge /etc/munge /etc/munge/munge.key
  chmod 700 /etc/munge; chmod 400 /etc/munge/munge.key
  # systemd's RuntimeDirectory would create /run/munge; without systemd we do.
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge; chmod 755 /run/munge
  if ! pid_of /run/munge/munged.pid munged >/dev/null; then
    rm -f /run/munge/munged.pid
    runuser -u munge -- /usr/sbin/munged
    log "munged started"
  fi
  wait_for 10 "munge round trip" bash -c 'munge -n | unmunge'
}

start_accounting() {
  [ "$ACCT" = 1 ] || return 0
  mkdir -p /run/mysqld /var/log/mysql && chown mysql:mysql /run/mysqld /var/log/mysql
  [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  if ! pid_of /run/mysqld/mysqld.pid mariadbd >/dev/null; then
    rm -f /run/mysqld/mysqld.pid
    # mariadbd does not daemonize: setsid + & and its --pid-file. Unix socket only.
    setsid /usr/sbin/mariadbd --user=mysql --pid-file=/run/mysqld/mysqld.pid \
      --socket=/run/mysqld/mysqld.sock --skip-networking --innodb-buffer-pool-size=64M \
      --log-error=/var/log/mysql/error.log </dev/null >/dev/null 2>&1 &
    wait_for 60 "mariadb" mysqladmin --socket=/run/mysqld/mysqld.sock ping
    wait_for 10 "mariadb pid file" test -s /run/mysqld/mysqld.pid
    log "mariadb started"
  fi
  mysql --socket=/run/mysqld/mysqld.sock -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmpw';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
  if ! pid_of "$R/run/slurmdbd.pid" slurmdbd >/dev/null; then
    slurmdbd || die "slurmdbd failed to start"
    wait_for 60 "slurmdbd" sacctmgr -n list cluster
    log "slurmdbd started"
  fi
  sacctmgr -n --parsable2 list cluster format=cluster | grep -qx "$CLUSTER" \
    || sacctmgr -i add cluster "$CLUSTER" >/dev/null || true
}

do_start() {
  [ "$(id -u)" = 0 ] || die "must run as root (installs packages, runs the daemons as root)"
  install_packages
  write_config
  start_munge
  start_accounting
  if ! pid_of "$R/run/slurmctld.pid" slurmctld >/dev/null; then
    rm -f "$R/run/slurmctld.pid"
    slurmctld || die "slurmctld failed to start"
    log "slurmctld started"
  fi
  wait_for 30 "slurmctld ping" bash -c 'scontrol ping | grep -q "is UP"'
  local i
  for i in $(seq 1 "$NODES"); do
    if ! pid_of "$R/run/slurmd-n$i.pid" slurmd >/dev/null; then
      rm -f "$R/run/slurmd-n$i.pid"
      slurmd -N "n$i" || die "slurmd n$i failed to start"
    fi
  done
  local end=$(( $(date +%s) + 30 )) bad
  until [ "$(usable_nodes)" -ge "$NODES" ]; do
    # nodes left DOWN/DRAINED by an earlier test (drain_bad_nodes) or an unclean stop
    bad=$(timeout 10 sinfo -h -N -o '%N %t' | awk '$2 ~ /^(down|drain|drng|drained|fail)/ {print $1}' | paste -sd, -)
    [ -n "$bad" ] && scontrol update nodename="$bad" state=resume 2>/dev/null || true
    [ "$(date +%s)" -lt "$end" ] || { sinfo -N -l >&2; die "nodes not ready"; }
    sleep 0.3
  done
  # sinfo can say idle from recovered state before a slurmd has really registered: a real
  # multi-node step proves munge, the slurmd ports and slurmstepd all work.
  timeout 60 srun -N "$NODES" --ntasks-per-node=1 -t 1 -J slurm-dev-smoke true \
    || die "smoke test 'srun -N $NODES true' failed"
  log "ready: $(sinfo -h -o '%D nodes %T %N' | paste -sd' ' -) ($(slurmd -V))"
}

# ------------------------------------------------------------------------ stop
do_stop() {
  # 1. cancel every job while the controller is up so each slurmstepd kills its processes
  #    (nothing else would with proctrack/linuxproc), then wait for the slurmstepds.
  if pid_of "$R/run/slurmctld.pid" slurmctld >/dev/null && [ -f "$CONF" ]; then
    local jobs i
    jobs=$(timeout 10 squeue -h -o %A 2>/dev/null | paste -sd' ' - || true)
    if [ -n "$jobs" ]; then
      # shellcheck disable=SC2086
      timeout 10 scancel $jobs 2>/dev/null && log "cancelled jobs: $jobs"
      for i in $(seq 1 75); do [ -z "$(stepd_pids)" ] && break; sleep 0.2; done
    fi
  fi
  # 2. slurmd deletes its own pid file on exit: collect every pid first, TERM them together.
  local pids=() pf pid
  for pf in "$R"/run/slurmd-*.pid; do
    if [ -e "$pf" ] && pid=$(pid_of "$pf" slurmd); then pids+=("$pid"); fi
  done
  if [ ${#pids[@]} -gt 0 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for pid in "${pids[@]}"; do stop_pid "$pid" slurmd; done
  fi
  rm -f "$R"/run/slurmd-*.pid
  # 3. slurmstepds outlive slurmd (re-parented to init)
  for pid in $(stepd_pids); do stop_pid "$pid" slurmstepd; done
  stop_pf "$R/run/slurmctld.pid" slurmctld slurmctld
  stop_pf "$R/run/slurmdbd.pid" slurmdbd slurmdbd
  if [ "${PURGE:-0}" = 1 ] && pid_of /run/mysqld/mysqld.pid mariadbd >/dev/null; then
    mysql --socket=/run/mysqld/mysqld.sock -e 'DROP DATABASE IF EXISTS slurm_acct_db' || true
  fi
  stop_pf /run/mysqld/mysqld.pid mariadbd mariadb
  stop_pf /run/munge/munged.pid munged munged # last: everything above authenticates through it
}

do_status() {
  command -v sinfo >/dev/null || { echo "slurm: not installed"; return 1; }
  pid_of "$R/run/slurmctld.pid" slurmctld >/dev/null || { echo "slurm: slurmctld not running"; return 1; }
  local n
  n=$(usable_nodes)
  timeout 10 sinfo -N -h -o '%N %t' | paste -sd' ' - || true
  [ "$n" -ge "$NODES" ] || { echo "slurm: $n of $NODES nodes usable"; return 1; }
  echo "slurm: up, $n nodes"
}

case "${1:-}" in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  purge) PURGE=1 do_stop; rm -rf "$R"; log "removed $R" ;;
  *) echo "usage: $0 start|stop|status|purge" >&2; exit 2 ;;
esac
