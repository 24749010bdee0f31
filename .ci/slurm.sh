#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine for the HPC tests (test/integration/slurm.test.ts):
# installs Debian's slurm-wlm daemons and munge when missing, writes a minimal slurm.conf for this
# host (its CPUs and memory, one partition, a count-only "gpu" GRES so that the production
# `--gres=gpu:1` schedules without a GPU; Whisper runs on the CPU in the tests), and starts munged,
# slurmctld and slurmd. Idempotent: a cluster that already answers `sinfo` is left as it is.
# Needs root and apt-get; elsewhere it says what to install and exits 1.
set -euo pipefail

if command -v sinfo >/dev/null && sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "no running SLURM cluster and not root with apt-get: install slurm-wlm and munge, then run $0 as root" >&2
  exit 1
fi

need=()
command -v slurmctld >/dev/null || need+=(slurmctld)
command -v slurmd >/dev/null || need+=(slurmd)
command -v sbatch >/dev/null || need+=(slurm-client)
command -v munged >/dev/null || need+=(munge)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing SLURM packages: ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# munge: one key, readable by its daemon only.
install -d -m 0700 -o munge -g munge /etc/munge /var/lib/munge /var/log/munge
install -d -m 0755 -o munge -g munge /run/munge
[ -s /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none; }
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
pgrep -x munged >/dev/null || su -s /bin/sh munge -c /usr/sbin/munged

cpus=$(nproc)
mem_mb=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512))
install -d -m 0755 /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat >/etc/slurm/slurm.conf <<CONF
# Written by .ci/slurm.sh: a one-node test cluster on localhost.
ClusterName=audio-pipeline-ci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
ReturnToService=2
# Short waits so that tests see state changes in seconds.
SchedulerParameters=sched_interval=2
KillWait=10
MinJobAge=600
MessageTimeout=10
GresTypes=gpu
# The workers run several threads each; more CPUs than cores lets a few test jobs run at once.
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$((cpus * 4)) RealMemory=$mem_mb Gres=gpu:4 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
# Stand-in GPUs: SLURM drops a GPU GRES without a character device, so four copies of /dev/null
# (c 1 3) take their place. SLURM then schedules --gres=gpu:1 and sets CUDA_VISIBLE_DEVICES per job exactly as on a
# GPU node; Whisper runs on the CPU (WHISPER_DEVICE=cpu) in the tests.
install -d -m 0755 /var/lib/slurm-ci-gpus
for i in 0 1 2 3; do [ -c /var/lib/slurm-ci-gpus/gpu$i ] || mknod /var/lib/slurm-ci-gpus/gpu$i c 1 3; done
cat >/etc/slurm/gres.conf <<CONF
NodeName=localhost Name=gpu File=/var/lib/slurm-ci-gpus/gpu[0-3]
CONF

pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd -N localhost
for _ in $(seq 1 30); do
  if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then exit 0; fi
  scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
  sleep 1
done
echo "SLURM did not come up: $(sinfo 2>&1 | tail -3)" >&2
tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 1
