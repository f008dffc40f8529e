"""Part segmentation on the embedded procedural shapes: the segmentation quickstart (CPU).

    python -m dd3d_jax.main --config=configs/shapes_parts.py --workdir=/tmp/dd3d_parts

12 shape classes with 2-3 labelled parts each (30 part ids). DD3D's generator labels
its own points by its noise and the classes' part proportions, distilled at 128 points
and evaluated at 256; the evaluation trains the segmentation PointNet with the
reference recipe (`config.use_segmentation`) for `eval.epochs` epochs. Expected on 2
CPU cores: docs/results.md, "Part segmentation", has the measured numbers and time.
Variants: `configs/shapes_parts.py:cpc=10`, `configs/shapes_parts.py:rotated`, and
`:beyond`, which adds DD3D's part candidates (`config.PART_VARIANTS`: dd3d_real,
dd3d_parts, dd3d_real_parts), the k-medoids coreset and GM to the random coreset and DD3D
(the k-medoids coreset, the most typical clouds, is the one ahead of the random coreset:
docs/results.md, "Typical clouds"; at `:beyond,cpc=10`, 1 x 2 runs, class mIoU: random 76.5,
GM 75.5, dd3d_real_parts 67.5 (72.4 with `iterations=0`: the fit alone), dd3d_real 67.0,
DD3D 38.5, dd3d_parts 35.7):

    python -m dd3d_jax.main --config=configs/shapes_parts.py:beyond --workdir=/tmp/dd3d_parts_beyond

`:tools` takes the second family of part-labelled shapes (10 classes, 26 part ids,
`data.shapes.family='tools'`), to check on other shapes what was found on these.
"""

from dd3d_jax.config import (PART_VARIANTS, add_part_variants, base_config, parse_variant,
                             use_segmentation)


def get_config(arg=None):
  v = parse_variant(arg, {'cpc': int, 'rotated': bool, 'beyond': bool, 'tools': bool})
  c = use_segmentation(base_config(), epochs=300)
  c.data.format = 'shapes'
  c.data.num_points = 256
  c.data.rotated = v.get('rotated', False)
  c.data.shapes.num_train_per_class = 100
  c.data.shapes.num_test_per_class = 40
  c.data.shapes.family = 'tools' if v.get('tools') else 'objects'

  c.distill.cpc = v.get('cpc', 1)
  c.distill.iterations = 25
  c.distill.outer_loop, c.distill.inner_loop = 10, 1
  c.distill.batch_real = 16
  c.distill.train_points = 128
  c.methods.dd3d.w0_initial = 100.0
  c.distill.checkpoint_every = 10

  c.eval.num_evals = 3
  c.eval.methods = 'random,dd3d'
  if v.get('beyond'):
    add_part_variants(c)
    c.eval.methods = 'random,kmedoids,gm,dd3d,' + ','.join(PART_VARIANTS)
  return c
