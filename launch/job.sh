#!/usr/bin/env bash
# Runs one table cell to completion on a GPU or TPU VM, through preemptions.
#
#   launch/job.sh CONFIG WORKDIR [--config.FIELD=VALUE ...]
#   launch/job.sh configs/modelnet40.py:cpc=10 /mnt/runs/mn40_cpc10 \
#       --config.data.path=/mnt/data/modelnet40_ply_hdf5_2048
#
# Installs the package with the JAX build for the accelerator found, then runs
# the job and re-runs it after any failure that is not a user error (exit 2):
# every re-run resumes from the latest Orbax checkpoint in WORKDIR, and a finished
# run only reports its results. Keep WORKDIR on a disk that outlives the VM.
#
# One host with several GPUs: nothing to add, the job splits its classes and batches
# over all of them (`mesh.units=0`). Several hosts: run this same line on every host
# (launch/tpu_slice.sh, launch/slurm.sbatch) with WORKDIR on a disk all of them mount;
# the processes join each other (dd3d_jax.devices.initialize) and process 0 writes.
# DRY_RUN=1 prints the commands instead of running them.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
  echo "usage: $0 CONFIG WORKDIR [--config.FIELD=VALUE ...]" >&2
  exit 2
fi
config=$1 workdir=$2
shift 2

if command -v nvidia-smi >/dev/null 2>&1; then
  accel='jax[cuda12]'
elif [ -e /dev/accel0 ] || [ -n "${TPU_NAME:-}" ]; then
  accel='jax[tpu]'
else
  accel='jax'
fi
if [ -n "${DRY_RUN:-}" ]; then
  echo "python3 -m pip install -q -U '$accel' && python3 -m pip install -q -e ."
  printf '%q ' python3 -m dd3d_jax.main --config="$config" --workdir="$workdir" "$@"
  echo
  exit 0
fi
python3 -m pip install -q -U "$accel" && python3 -m pip install -q -e . || exit 1

attempt=0
until python3 -m dd3d_jax.main --config="$config" --workdir="$workdir" "$@"; do
  rc=$?
  if [ "$rc" -eq 2 ]; then  # a bad path, file or config value: retrying cannot help
    exit 2
  fi
  attempt=$((attempt + 1))
  if [ "$attempt" -ge "${MAX_RESTARTS:-20}" ]; then
    echo "giving up after $attempt restarts" >&2
    exit "$rc"
  fi
  echo "job exited with $rc; resuming from $workdir in 30 s (restart $attempt)" >&2
  sleep 30
done
