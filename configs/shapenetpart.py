"""Table 2: part segmentation of ShapeNet-part (16 classes, 50 parts), PointNet.

One command per cell (aligned, or `rotated`; CPC 1 or 10), either published layout
(`hdf5_data/` or `shapenetcore_partanno_segmentation_benchmark_v0_normal/`):

    python -m dd3d_jax.main --config=configs/shapenetpart.py:cpc=1 \
        --config.data.path=/data/shapenetpart/hdf5_data --workdir=runs/shapenetpart_cpc1
    python -m dd3d_jax.main --config=configs/shapenetpart.py:cpc=10,rotated \
        --config.data.path=/data/shapenetpart/hdf5_data --workdir=runs/shapenetpart_cpc10_rot

The authors' `seg_inr.py`: 400 iterations, 32 real clouds per class, SIREN w0 400,
generator Adam lr 5e-4 and L2 1e-5, (outer, inner) loops (10, 1) at CPC 1 and
(10, 2) at CPC 10, inner batches of 32, the official part proportions; distilled and
evaluated at 2,048 points; evaluation SGD for 1,000 epochs (`config.use_segmentation`;
`--config.eval.epochs` scales it for a smaller budget). Methods: random, GM (a tensor
with the part labels of the real clouds it starts from), DD3D and the full-data bound.
Paper (class mIoU %; the authors' code tests after the last epoch): CPC 1 DD3D 37.7
(GM 34.0), CPC 10 DD3D 50.6 (GM 49.9), full 65.6.
`python -m dd3d_jax.tables runs/shapenetpart_* --table 2` prints the table.
"""

from dd3d_jax.config import base_config, loops_for, parse_variant, use_segmentation

LOOPS = {1: (10, 1), 10: (10, 2)}


def get_config(arg=None):
  v = parse_variant(arg, {'cpc': int, 'rotated': bool})
  c = use_segmentation(base_config(), epochs=1000)
  c.data.format = 'auto'
  c.data.num_points = 2048
  c.data.rotated = v.get('rotated', False)
  c.distill.cpc = v.get('cpc', 1)
  c.distill.iterations = 400
  c.distill.batch_real = 32
  c.distill.train_points = 2048
  c.distill.lr, c.distill.weight_decay = 5e-4, 1e-5
  c.methods.dd3d.w0_initial = 400.0
  c.distill.outer_loop, c.distill.inner_loop = loops_for(LOOPS, c.distill.cpc,
                                                         'configs/shapenetpart.py')
  c.num_distills = 2
  c.eval.num_evals = 5
  return c
