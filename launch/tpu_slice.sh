#!/usr/bin/env bash
# Runs one cell on a Cloud TPU VM slice of several hosts (e.g. v4-32: 4 hosts), through
# preemptions: copies this checkout to every host, then starts launch/job.sh on all of
# them at once. On a TPU slice JAX joins the hosts by itself; the classes are split over
# every chip of the slice and process 0 writes the records.
#
#   launch/tpu_slice.sh TPU_NAME ZONE CONFIG WORKDIR [--config.FIELD=VALUE ...]
#   launch/tpu_slice.sh dd3d-v4-32 us-central2-b configs/mvpnet100.py:cpc=10 \
#       /mnt/shared/runs/mvp_cpc10 --config.data.path=/mnt/shared/data/mvpnet100
#
# WORKDIR and the data must be on a disk every host mounts at the same path (Filestore
# or another NFS): Orbax writes each host's part of a checkpoint there. Create the slice
# first, e.g. `gcloud compute tpus tpu-vm create dd3d-v4-32 --zone=us-central2-b
# --accelerator-type=v4-32 --version=tpu-ubuntu2204-base`. DRY_RUN=1 prints the gcloud
# commands instead of running them.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 4 ]; then
  echo "usage: $0 TPU_NAME ZONE CONFIG WORKDIR [--config.FIELD=VALUE ...]" >&2
  exit 2
fi
tpu=$1 zone=$2 config=$3 workdir=$4
shift 4
remote="cd ~/dd3d_jax && launch/job.sh $(printf '%q ' "$config" "$workdir" "$@")"
run() {
  if [ -n "${DRY_RUN:-}" ]; then printf '%q ' "$@"; echo; else "$@"; fi
}
run gcloud compute tpus tpu-vm scp --recurse --zone="$zone" --worker=all . "$tpu:~/dd3d_jax"
run gcloud compute tpus tpu-vm ssh "$tpu" --zone="$zone" --worker=all --command="$remote"
