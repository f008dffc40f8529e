#!/usr/bin/env bash
# All classification cells of the paper's Table 1 (PointNet), one job each.
#
#   DATA=/mnt/data RUNS=/mnt/runs launch/table1.sh [modelnet40|scanobjectnn|mvpnet100]
#
# Expects $DATA/modelnet40_ply_hdf5_2048, $DATA/h5_files and $DATA/mvpnet100 as
# released. Cells run one after the other on this VM; start one VM per dataset to
# run them in parallel. Each cell resumes where it stopped (see launch/job.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATA:?set DATA to the folder holding the datasets}"
: "${RUNS:?set RUNS to the folder for the workdirs}"
which=${1:-all}

cell() {  # dataset variant path
  launch/job.sh "configs/$1.py:$2" "$RUNS/$1_${2//[=,]/_}" "--config.data.path=$3"
}
for cpc in 1 10 50; do
  if [ "$which" = all ] || [ "$which" = modelnet40 ]; then
    cell modelnet40 "cpc=$cpc" "$DATA/modelnet40_ply_hdf5_2048"
    cell modelnet40 "cpc=$cpc,rotated" "$DATA/modelnet40_ply_hdf5_2048"
  fi
  if [ "$which" = all ] || [ "$which" = scanobjectnn ]; then
    cell scanobjectnn "cpc=$cpc" "$DATA/h5_files"
  fi
  if [ "$which" = all ] || [ "$which" = mvpnet100 ]; then
    cell mvpnet100 "cpc=$cpc" "$DATA/mvpnet100"
  fi
done
