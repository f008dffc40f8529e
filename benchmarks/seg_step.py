"""Times one outer step of DD3D for parts next to the classification one, same shapes.

    python benchmarks/seg_step.py                       # ShapeNet-part: 16 classes, 32 x 2,048
    python benchmarks/seg_step.py --classes 4 --points 256 --steps 2

An outer step is one generator update over all classes (gradient matching, then Adam).
Part segmentation has two kinds, which alternate: whole-shape matching and one
matching per part (ShapeNet-part: 2-6 parts per class, 50 in all), both with the
segmentation PointNet (BatchNorm in inference mode, statistics from 8 real clouds per
class); classification matches the lightweight PointNet's gradients (`distill.outer_step`).
Rows: median seconds over --steps steps after the first (compilation) and the
compile time. Random data with the official part layout and proportions; only shapes
matter for timing.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from dd3d_jax import distill, models, synthetic
from dd3d_jax import generator as gen_lib
from dd3d_jax.data import shapenetpart
from dd3d_jax.rotator import IdentityRotator
from dd3d_jax.tasks.segmentation import PartLayout, Segmentation


def timed(fn, args, steps: int) -> tuple[float, float]:
  """(median seconds of a call after the first, seconds of the first call)."""
  t = time.perf_counter()
  jax.block_until_ready(fn(*args))
  first = time.perf_counter() - t
  times = []
  for _ in range(steps):
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t)
  return float(np.median(times)), first


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--classes', type=int, default=16)
  parser.add_argument('--cpc', type=int, default=1)
  parser.add_argument('--batch-real', type=int, default=32)
  parser.add_argument('--points', type=int, default=2048)
  parser.add_argument('--steps', type=int, default=2)
  parser.add_argument('--class-chunk', type=int, default=1)
  args = parser.parse_args()
  k, n, b = args.classes, args.points, args.batch_real
  layout = PartLayout(shapenetpart.PART_OFFSETS[:k], shapenetpart.PART_COUNTS[:k],
                      shapenetpart.NUM_PARTS)
  proportions = tuple(tuple(map(float, row)) for row in shapenetpart.official_proportions()[:k])
  siren = synthetic.SirenSet(gen_lib.ModulatedSiren(num_classes=k, cpc=args.cpc,
                                                    w0_initial=400.0))

  def base(network, task=None):
    return distill.Distiller(synthesizer=siren, network=network, num_classes=k, cpc=args.cpc,
                             batch_real=b, train_points=n, outer_loop=10, inner_loop=1,
                             iterations=400, class_chunk=args.class_chunk, task=task)

  rng = np.random.default_rng(0)
  labels = np.repeat(np.arange(k), b)
  points = rng.normal(size=(k * b, n, 3)).astype(np.float32)
  parts = np.asarray(layout.offsets)[labels][:, None] + rng.integers(
      0, np.asarray(layout.counts)[labels][:, None], size=(k * b, n))
  key = jax.random.key(0)
  rows = []

  cls = base(models.make_network('pointnet', k))
  real = distill.make_real_data(points, labels, k, min_width=b)
  state = distill.init_state(cls, key)
  net_vars = cls.network.init(jax.random.key(1))
  step = jax.jit(lambda g, o: distill.outer_step(cls, g, o, net_vars, real, key))
  rows.append(('classification (PointNet, InstanceNorm)',
               *timed(step, (state.gen_params, state.opt_state), args.steps)))

  task = Segmentation(layout, proportions)
  seg = base(task.network('pointnet', IdentityRotator()), task)
  real = distill.make_real_data(points, labels, k, min_width=b, targets=parts)
  state = distill.init_state(seg, key)
  net_vars = distill.set_batch_statistics(seg, seg.network.init(jax.random.key(1)), real, key)
  for ol, kind in ((0, 'whole-shape'), (1, 'per-part')):  # outer steps alternate the two
    seg_step = jax.jit(lambda g, o, ol=ol: distill.update(seg, g, o, net_vars, real, key, key,
                                                          ol))
    rows.append((f'parts, {kind} (PointNetSeg, BatchNorm)',
                 *timed(seg_step, (state.gen_params, state.opt_state), args.steps)))

  print(f'{jax.default_backend()}: {k} classes, CPC {args.cpc}, {b} real x {n} points, '
        f'class chunk {args.class_chunk}')
  print('| outer step | seconds | x classification | compile s |\n|---|---:|---:|---:|')
  for name, seconds, first in rows:
    print(f'| {name} | {seconds:.2f} | {seconds / rows[0][1]:.1f} | {first - seconds:.0f} |')


if __name__ == '__main__':
  main()
