"""Prints what a dataset folder holds, read raw (no subsampling or normalisation).

    python -m dd3d_jax.data.inspect PATH [--json] [--format F] [--variant V] [--num-points N]
    python -m dd3d_jax.data.inspect --format shapes [--json] [--num-points N]

Detects the layout (unless --format), reads and validates it, and prints the format,
the classes with their per-split counts, the points per cloud and the coordinate
bounds per split. With --json the last line of stdout is one JSON object
{"format", "classes", "train", "test", "points"}. `--format shapes` reports the
procedural dataset (the default config's) and takes no PATH. A dataset problem or a
bad command line (a missing, extra or malformed argument) is one line `error: ...`
on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from dd3d_jax import cli, config, data
from dd3d_jax.data import scanobjectnn
from dd3d_jax.errors import UserError

# formats that read (or generate) every cloud at num_points, by default the config's
SUBSAMPLED = ('shapenetpart_txt', 'mvpnet', 'shapes')


def positive_int(text: str) -> int:
  """argparse type: an integer >= 1."""
  try:
    value = int(text)
  except ValueError:
    value = 0
  if value < 1:
    raise argparse.ArgumentTypeError(f'must be a whole number >= 1, got {text!r}')
  return value


def summary_lines(fmt: str, dataset: data.PointCloudDataset) -> list[str]:
  """The human-readable report: class table, points per cloud, bounds per split."""
  splits = list(dataset.splits)
  counts = {s: np.bincount(dataset.splits[s].labels, minlength=dataset.num_classes)
            for s in splits}
  width = max(len(n) for n in dataset.class_names + ('class', 'total'))
  lines = [f'format: {fmt}', f'source: {dataset.source}', f'classes: {dataset.num_classes}',
           f'  {"class":<{width}}' + ''.join(f'{s:>9}' for s in splits)]
  for i, name in enumerate(dataset.class_names):
    lines.append(f'  {name:<{width}}' + ''.join(f'{counts[s][i]:>9}' for s in splits))
  lines.append(f'  {"total":<{width}}' + ''.join(f'{len(dataset.splits[s]):>9}' for s in splits))
  for s in splits:
    pts = dataset.splits[s].points
    lo, hi = pts.min(axis=(0, 1)), pts.max(axis=(0, 1))
    bounds = '  '.join(f'{a} [{l:.4g}, {h:.4g}]' for a, l, h in zip('xyz', lo, hi))
    lines.append(f'{s}: {pts.shape[1]} points per cloud; {bounds}')
  return lines


def parse(argv: list[str] | None) -> argparse.Namespace:
  """The arguments, checked together. Raises UserError (one line) for a bad command line."""
  parser = cli.ArgumentParser(prog='python -m dd3d_jax.data.inspect', description=__doc__.split('\n')[0])
  parser.add_argument('path', nargs='?', help='the dataset folder or .npz file (none for shapes)')
  parser.add_argument('--json', action='store_true', help='end with one JSON line')
  parser.add_argument('--format', default='auto', choices=['auto', *sorted(data.READERS)],
                      metavar='F', help=f"'auto' (default) or one of {sorted(data.READERS)}")
  parser.add_argument('--variant', default='',
                      help=f'ScanObjectNN only: one of {sorted(scanobjectnn.VARIANTS)}')
  parser.add_argument('--num-points', type=positive_int, default=None, metavar='N',
                      help='points kept per cloud by shapenetpart_txt and mvpnet and generated '
                           'by shapes (default 1024); the minimum for the other formats '
                           '(default 1)')
  args = parser.parse_args(argv)
  if args.format == 'shapes' and args.path is not None:
    parser.error(f'--format shapes generates its clouds and reads no PATH, got {args.path!r}; '
                 'drop PATH, or give the format of the data at PATH')
  if args.format != 'shapes' and args.path is None:
    parser.error('PATH is missing: give the dataset folder or .npz file (only --format shapes '
                 'takes none)')
  if args.variant and args.variant not in scanobjectnn.VARIANTS:
    parser.error(f'--variant {args.variant!r} is unknown; use one of '
                 f'{sorted(scanobjectnn.VARIANTS)} (ScanObjectNN only)')
  return args


def main(argv: list[str] | None = None) -> int:
  """Runs the command; returns its exit status (0, or 2 after one line `error: ...`)."""
  try:
    args = parse(argv)
    cfg = config.base_config().data
    cfg.path, cfg.variant = args.path or '', args.variant
    cfg.format = data.detect_format(args.path) if args.format == 'auto' else args.format
    cfg.num_points = args.num_points or (1024 if cfg.format in SUBSAMPLED else 1)
    dataset = data.read(cfg)
  except UserError as e:
    print(f'error: {" ".join(str(e).split())}', file=sys.stderr)
    return 2
  print('\n'.join(summary_lines(cfg.format, dataset)))
  if args.json:
    print(json.dumps({'format': cfg.format, 'classes': list(dataset.class_names),
                      'train': len(dataset.train), 'test': len(dataset.test),
                      'points': int(dataset.train.points.shape[1])}))
  return 0


if __name__ == '__main__':
  sys.exit(main())
