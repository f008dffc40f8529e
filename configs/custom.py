"""Your own data at a CPU budget: the layout is detected (`data.format='auto'`).

    python -m dd3d_jax.data.inspect /path/to/your_data          # what it holds, first
    python -m dd3d_jax.main --config=custom --config.data.path=/path/to/your_data \
        --workdir=runs/your_data
    python -m dd3d_jax.export runs/your_data --format ply        # the sets, for a viewer

Data: a plain h5 pair (`train.h5`, `test.h5` with `data`, `label`), folders of point
files per class (`.ply`, `.npy`, `.txt`, `.xyz`; split into train/ and test/ or split
here by `data.test_fraction`), or an `.npz`; docs/data.md#your-own-data has the
layouts. Clouds of different sizes are subsampled to 1,024 points; shorter ones need
`--config.data.allow_resample=True`. `--config.data.name=NAME` names the data in the
log and tables (default: the folder's name); `--config.data.scale=dataset` keeps the
real clouds' relative sizes (one factor for all; the learned methods still put their
own clouds in the unit sphere).

Methods: the random coreset, DM and DD3D at CPC 1 (`:cpc=10` for 10 clouds per class,
`:rotated` for the rotated setting); one distillation, 2 evaluation runs each of 100
epochs. Expected: a few minutes for a few thousand clouds on 2 cores; on a 10-class
plain h5 pair of ModelNet10's clouds and a 5-class folder of `.xyz` files of 101 to
28,100 points, both routes measured in docs/data.md#your-own-data.
"""

from dd3d_jax.config import base_config, parse_variant


def get_config(arg=None):
  v = parse_variant(arg, {'cpc': int, 'rotated': bool})
  c = base_config()
  c.data.format = 'auto'
  c.data.num_points = 1024
  c.data.rotated = v.get('rotated', False)

  c.distill.cpc = v.get('cpc', 1)
  c.distill.iterations = 40
  c.distill.outer_loop, c.distill.inner_loop = 10, 1
  c.distill.batch_real = 32
  c.distill.train_points = 256
  c.methods.dd3d.w0_initial = 100.0
  c.methods.dm.iterations = c.distill.iterations * c.distill.outer_loop

  c.eval.methods = 'random,dm,dd3d'
  c.eval.num_evals = 2
  c.eval.epochs = 100
  c.eval.test_every = 20
  return c
