"""DD3D on the embedded procedural shapes dataset: the quickstart (CPU, a few minutes).

    python -m dd3d_jax.main --config=configs/shapes.py --workdir=/tmp/dd3d_shapes

Expected on 2 CPU cores: under 5 minutes in all; DD3D (CPC 1) clearly above a random
coreset of the same size (docs/results.md, "Quickstart", has the measured numbers).
Variants: `configs/shapes.py:cpc=10`, `configs/shapes.py:rotated`. Any method by name:
`--config.eval.methods=random,herding,kcenter,gm,dm,dd3d,full`.
"""

from dd3d_jax.config import base_config, parse_variant


def get_config(arg=None):
  v = parse_variant(arg, {'cpc': int, 'rotated': bool})
  c = base_config()
  c.data.format = 'shapes'
  c.data.num_points = 512
  c.data.rotated = v.get('rotated', False)
  c.data.shapes.num_train_per_class = 100
  c.data.shapes.num_test_per_class = 40
  c.data.shapes.max_crop = 0.5       # partial views: a random plane cuts away up to half

  c.distill.cpc = v.get('cpc', 1)
  c.distill.iterations = 50
  c.distill.outer_loop, c.distill.inner_loop = 10, 1
  c.distill.batch_real = 16
  c.distill.train_points = 128
  c.methods.dd3d.w0_initial = 100.0
  c.distill.checkpoint_every = 10

  c.eval.num_evals = 3
  c.eval.epochs = 100
  c.eval.test_every = 20
  return c
