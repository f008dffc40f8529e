"""Table 1 on MVPNet100 (MVImgNet point clouds, 100 classes), PointNet.

    python -m dd3d_jax.main --config=configs/mvpnet100.py:cpc=1 \
        --config.data.path=/data/mvpnet100 --workdir=runs/mvpnet100_cpc1

Each cell runs every Table 1 method (TM included); `:dc` gives GM/DM DC's optimisers.
Paper (OA %, 2 distillations x 5 evaluations, best-epoch protocol), CPC 1 / 10 / 50:
random 5.2 / 16.0 / 30.1, GM 10.5 / 25.7 / 37.4, DM 11.7 / 25.7 / 36.8,
DD3D 13.7 / 31.1 / 40.6, full 55.6. MVPNet is never rotated
(its objects are captured from 180-degree views), so there is no `rotated` variant.
The folder layout read is documented in `dd3d_jax/data/mvpnet.py`.
"""

from dd3d_jax.config import TABLE1_METHODS, base_config, loops_for, parse_variant, use_dc_settings

LOOPS = {1: (10, 1), 10: (20, 1), 50: (40, 5)}


def get_config(arg=None):
  v = parse_variant(arg, {'cpc': int, 'dc': bool})
  c = base_config()
  c.data.format = 'mvpnet'
  c.data.num_points = 1024
  c.distill.cpc = v.get('cpc', 1)
  c.distill.iterations = 400
  c.distill.batch_real = 128
  c.methods.dd3d.w0_initial = 100.0
  c.distill.outer_loop, c.distill.inner_loop = loops_for(LOOPS, c.distill.cpc,
                                                         'configs/mvpnet100.py')
  c.num_distills = 2
  c.eval.num_evals = 5
  c.eval.methods = TABLE1_METHODS
  return use_dc_settings(c) if v.get('dc', False) else c
