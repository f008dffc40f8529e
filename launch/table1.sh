#!/usr/bin/env bash
# Every classification cell of the paper's Table 1 (PointNet), one resumable job per cell,
# then the table. Each cell runs all Table 1 methods of its config (random, herding,
# k-center, GM, DM, TM, DD3D and the full-data upper bound).
#
#   DATA=/mnt/data RUNS=/mnt/runs launch/table1.sh [modelnet40|scanobjectnn|mvpnet100]
#
# Expects $DATA/modelnet40_ply_hdf5_2048, $DATA/h5_files and $DATA/mvpnet100 as
# released. Cells run one after the other on this VM; start one VM per dataset to
# run them in parallel (then `python -m dd3d_jax.tables $RUNS/*` prints the whole
# table). Each cell resumes where it stopped (see launch/job.sh); extra arguments go to
# every cell, e.g. `--config.eval.methods=dd3d,random`.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATA:?set DATA to the folder holding the datasets}"
: "${RUNS:?set RUNS to the folder for the workdirs}"
which=${1:-all}
[ $# -gt 0 ] && shift

workdirs=()
cell() {  # dataset variant path [overrides]
  local workdir="$RUNS/$1_${2//[=,]/_}"
  launch/job.sh "configs/$1.py:$2" "$workdir" "--config.data.path=$3" "${@:4}"
  workdirs+=("$workdir")
}
for cpc in 1 10 50; do
  if [ "$which" = all ] || [ "$which" = modelnet40 ]; then
    cell modelnet40 "cpc=$cpc" "$DATA/modelnet40_ply_hdf5_2048" "$@"
    cell modelnet40 "cpc=$cpc,rotated" "$DATA/modelnet40_ply_hdf5_2048" "$@"
  fi
  if [ "$which" = all ] || [ "$which" = scanobjectnn ]; then
    cell scanobjectnn "cpc=$cpc" "$DATA/h5_files" "$@"
  fi
  if [ "$which" = all ] || [ "$which" = mvpnet100 ]; then
    cell mvpnet100 "cpc=$cpc" "$DATA/mvpnet100" "$@"
  fi
done
if [ ${#workdirs[@]} -eq 0 ]; then
  echo "unknown dataset '$which'; use modelnet40, scanobjectnn, mvpnet100 or nothing (all)" >&2
  exit 2
fi
python3 -m dd3d_jax.tables "${workdirs[@]}"
