"""Time to draw one set's pictures (`render.render_set`: a PNG per class and the overview).

    python benchmarks/render.py [--classes 10] [--cpc 10] [--points 1024]

Prints the best of `--repeats` wall times for random clouds of that shape.
"""

import argparse
import tempfile
import time

import numpy as np

from dd3d_jax import render


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--classes', type=int, default=10)
  parser.add_argument('--cpc', type=int, default=10)
  parser.add_argument('--points', type=int, default=1024)
  parser.add_argument('--repeats', type=int, default=2)
  args = parser.parse_args()
  rng = np.random.default_rng(0)
  points = rng.normal(size=(args.classes * args.cpc, args.points, 3)).astype(np.float32) / 3
  labels = np.repeat(np.arange(args.classes), args.cpc)
  names = [f'class{c}' for c in range(args.classes)]
  seconds = []
  for _ in range(args.repeats):
    with tempfile.TemporaryDirectory() as folder:
      start = time.perf_counter()
      render.render_set(folder, points, labels, names)
      seconds.append(time.perf_counter() - start)
  print(f'{args.classes} classes x {args.cpc} clouds x {args.points} points: '
        f'{min(seconds):.1f} s (best of {args.repeats})')


if __name__ == '__main__':
  main()
