"""Table 1 on ScanObjectNN (`h5_files`, OBJ_BG by default), PointNet.

    python -m dd3d_jax.main --config=configs/scanobjectnn.py:cpc=1 \
        --config.data.path=/data/h5_files --workdir=runs/scanobjectnn_cpc1

Variants: `cpc=1|10|50`, `rotated`; `--config.data.variant=obj_only|pb_t50_rs` for the
other splits. Each cell runs every Table 1 method (TM included); `:dc` gives GM/DM DC's
optimisers; `:sadm_eval` evaluates with SADM's recipe and network (`config.use_sadm_eval`). Paper (OA %, OBJ_BG aligned, 2 distillations x 5 evaluations, best-epoch
protocol), CPC 1 / 10 / 50: random 22.0 / 32.6 / 54.2, GM 26.3 / 39.9 / 57.5, DM 25.9 /
37.6 / 56.9, DD3D 30.6 / 43.8 / 62.0, full 67.0. The rotated setting's ScanObjectNN numbers are not in the paper's
headline table; the loops below are the authors' code's.
"""

from dd3d_jax.config import (TABLE1_METHODS, base_config, loops_for, parse_variant,
                             use_dc_settings, use_sadm_eval)

LOOPS = {False: {1: (10, 1), 10: (20, 10), 50: (30, 5)},
         True: {1: (5, 5), 10: (20, 10), 50: (40, 5)}}


def get_config(arg=None):
  v = parse_variant(arg, {'cpc': int, 'rotated': bool, 'dc': bool, 'sadm_eval': bool})
  c = base_config()
  c.data.format = 'scanobjectnn_h5'
  c.data.variant = 'obj_bg'
  c.data.num_points = 1024
  c.data.rotated = v.get('rotated', False)
  c.distill.cpc = v.get('cpc', 1)
  c.distill.iterations = 200
  c.distill.batch_real = 32
  c.methods.dd3d.w0_initial = 50.0
  c.distill.outer_loop, c.distill.inner_loop = loops_for(
      LOOPS[c.data.rotated], c.distill.cpc, 'configs/scanobjectnn.py')
  c.num_distills = 2
  c.eval.num_evals = 5
  c.eval.methods = TABLE1_METHODS
  if v.get('sadm_eval', False):
    use_sadm_eval(c)
  return use_dc_settings(c) if v.get('dc', False) else c
