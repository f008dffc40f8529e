"""Table 1 on ModelNet40 (`modelnet40_ply_hdf5_2048`), PointNet.

One command per table cell (aligned, or `rotated`; CPC 1, 10 or 50):

    python -m dd3d_jax.main --config=configs/modelnet40.py:cpc=1 \
        --config.data.path=/data/modelnet40_ply_hdf5_2048 --workdir=runs/modelnet40_cpc1
    python -m dd3d_jax.main --config=configs/modelnet40.py:cpc=10,rotated \
        --config.data.path=/data/modelnet40_ply_hdf5_2048 --workdir=runs/modelnet40_cpc10_rot

Each cell runs every Table 1 method (random, herding, k-center, GM, DM, TM, DD3D, full);
pick some with `--config.eval.methods=dd3d,random`; `:dc` gives GM/DM DC's optimisers;
`:sadm_eval` evaluates with SADM's recipe and network instead (`config.use_sadm_eval`).
Paper (OA %, mean of 2 distillations x 5 evaluations, best-epoch protocol), CPC 1 / 10 / 50:
  aligned  random 40.5 / 71.9 / 82.4  GM 53.4 / 75.5 / 81.7  DM 53.2 / 74.5 / 83.0
           DD3D 53.8 / 76.3 / 83.9  full 88.1
  rotated  random 34.7 / 58.9 / 70.1  GM 41.3 / 55.7 / 68.9  DM 41.7 / 55.5 / 69.3
           DD3D 42.4 / 58.1 / 71.3  full 80.5
results.json reports both our final-epoch OA (headline) and the paper's best-epoch OA;
`python -m dd3d_jax.tables runs/modelnet40_*` prints the table.
"""

from dd3d_jax.config import (TABLE1_METHODS, base_config, loops_for, parse_variant,
                             use_dc_settings, use_sadm_eval)

# (outer_loop, inner_loop) per CPC, from the authors' gm_inr.py.
LOOPS = {False: {1: (10, 1), 10: (20, 1), 50: (40, 5)},
         True: {1: (5, 5), 10: (20, 10), 50: (40, 5)}}


def get_config(arg=None):
  v = parse_variant(arg, {'cpc': int, 'rotated': bool, 'dc': bool, 'sadm_eval': bool})
  c = base_config()
  c.data.format = 'modelnet40_h5'
  c.data.num_points = 1024
  c.data.rotated = v.get('rotated', False)
  c.distill.cpc = v.get('cpc', 1)
  c.distill.iterations = 400
  c.distill.batch_real = 32
  c.methods.dd3d.w0_initial = 100.0
  c.distill.outer_loop, c.distill.inner_loop = loops_for(
      LOOPS[c.data.rotated], c.distill.cpc, 'configs/modelnet40.py')
  c.num_distills = 2
  c.eval.num_evals = 5
  c.eval.methods = TABLE1_METHODS
  if v.get('sadm_eval', False):
    use_sadm_eval(c)
  return use_dc_settings(c) if v.get('dc', False) else c
