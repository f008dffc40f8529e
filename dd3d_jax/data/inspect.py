"""Prints what a dataset folder holds, read raw (no normalisation).

    python -m dd3d_jax.data.inspect PATH [--json] [--format F] [--variant V] [--num-points N]
                                    [--config.data.FIELD=VALUE ...]
    python -m dd3d_jax.data.inspect --format shapes [--json] [--num-points N]

Detects the layout (unless --format), reads and validates it as `main` would, and
prints the format, the classes with their per-split counts, the points per cloud (as
kept, and as the files hold them: min, median, max) and the coordinate bounds per
split. `--config.data.FIELD=VALUE` sets a `data` field as on `main`'s command line
(`allow_resample`, `test_fraction`, `seed`, `name`, ...). Clouds with fewer points
than `num_points` are reported, with the flag `main` needs, rather than refused. With
--json the last line of stdout is one JSON object {"format", "name", "classes",
"train", "test", "points", "sizes"}. `--format shapes` reports the procedural dataset
(the default config's) and takes no PATH. A dataset problem or a bad command line (a
missing, extra or malformed argument) is one line `error: ...` on stderr and exit
status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from dd3d_jax import cli, config, data, fields
from dd3d_jax.data import checks, scanobjectnn
from dd3d_jax.errors import ConfigError, UserError

# formats that read (or generate) every cloud at num_points, by default the config's
SUBSAMPLED = ('shapenetpart_txt', 'mvpnet', 'shapes', 'class_folders', 'npz')
# `data` fields the command sets itself (PATH, --format, --variant)
OWN_FLAGS = ('path', 'format', 'variant')


def positive_int(text: str) -> int:
  """argparse type: an integer >= 1."""
  try:
    value = int(text)
  except ValueError:
    value = 0
  if value < 1:
    raise argparse.ArgumentTypeError(f'must be a whole number >= 1, got {text!r}')
  return value


def sizes(split: data.Split) -> dict[str, int]:
  """min, median and max of the points each cloud had in its file."""
  raw = split.raw_sizes()
  return {'min': int(raw.min()), 'median': int(np.median(raw)), 'max': int(raw.max())}


def summary_lines(fmt: str, dataset: data.PointCloudDataset) -> list[str]:
  """The human-readable report: class table, points per cloud, bounds per split."""
  splits = list(dataset.splits)
  counts = {s: np.bincount(dataset.splits[s].labels, minlength=dataset.num_classes)
            for s in splits}
  width = max(len(n) for n in dataset.class_names + ('class', 'total'))
  lines = [f'format: {fmt}', f'name: {dataset.name}', f'source: {dataset.source}',
           f'classes: {dataset.num_classes}',
           f'  {"class":<{width}}' + ''.join(f'{s:>9}' for s in splits)]
  for i, name in enumerate(dataset.class_names):
    lines.append(f'  {name:<{width}}' + ''.join(f'{counts[s][i]:>9}' for s in splits))
  lines.append(f'  {"total":<{width}}' + ''.join(f'{len(dataset.splits[s]):>9}' for s in splits))
  for s in splits:
    pts = dataset.splits[s].points
    lo, hi = pts.min(axis=(0, 1)), pts.max(axis=(0, 1))
    bounds = '  '.join(f'{a} [{l:.4g}, {h:.4g}]' for a, l, h in zip('xyz', lo, hi))
    raw = sizes(dataset.splits[s])
    lines.append(f'{s}: {pts.shape[1]} points per cloud (in the files: min {raw["min"]}, '
                 f'median {raw["median"]}, max {raw["max"]}); {bounds}')
  return lines


def short_clouds(dataset: data.PointCloudDataset, num_points: int) -> str | None:
  """A note on the clouds whose files hold fewer than `num_points` points, or None."""
  short = sum(int((s.raw_sizes() < num_points).sum()) for s in dataset.splits.values())
  if not short:
    return None
  fewest = min(int(s.raw_sizes().min()) for s in dataset.splits.values())
  return (f'note: {short} clouds have fewer than data.num_points={num_points} points (the '
          f'fewest {fewest}); main refuses them as they are: {checks.RESAMPLE}, or lower '
          f'--config.data.num_points to {fewest}.')


def data_override(arg: str, cfg) -> None:
  """Sets the `data` field of one `--config.data.FIELD=VALUE` argument on `cfg`, read
  as `main` reads it (by the field's type) and checked by the field's rule."""
  name, equals, text = arg[len('--config.data.'):].partition('=')
  field = f'data.{name}'
  if name in OWN_FLAGS or field not in config.FIELDS or not equals:
    allowed = sorted(f for f in config.FIELDS if f.startswith('data.')
                     and f[5:] not in OWN_FLAGS and f.count('.') == 1)
    raise ConfigError(f'{arg}: not a data field this command takes as --config.data.FIELD=VALUE '
                      f'(PATH, --format and --variant give the rest); use one of '
                      f'{", ".join(allowed)}.')
  default = cfg[name]
  if isinstance(default, bool):
    truth = {'true': True, 'false': False}
    if text.lower() not in truth:
      raise ConfigError(f'{arg}: {field} takes True or False.')
    value = truth[text.lower()]
  else:
    try:
      value = type(default)(text)
    except ValueError:
      raise ConfigError(f'{arg}: {field} takes a {type(default).__name__}.') from None
  fields.check(config.FIELDS[field], field, value)
  cfg[name] = value


def parse(argv: list[str] | None) -> argparse.Namespace:
  """The arguments, checked together. Raises UserError (one line) for a bad command line."""
  parser = cli.ArgumentParser(prog='python -m dd3d_jax.data.inspect',
                              description=__doc__.split('\n')[0])
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
  args, rest = parser.parse_known_args(argv)
  args.overrides = [a for a in rest if a.startswith('--config.data.')]
  unknown = [a for a in rest if not a.startswith('--config.data.')]
  if unknown:
    parser.error(f'unrecognized arguments: {" ".join(unknown)}')
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
    for arg in args.overrides:
      data_override(arg, cfg)
    cfg.path, cfg.variant = args.path or '', args.variant
    cfg.format = data.detect_format(args.path) if args.format == 'auto' else args.format
    if args.num_points:
      cfg.num_points = args.num_points
    elif not any(a.startswith('--config.data.num_points=') for a in args.overrides):
      cfg.num_points = 1024 if cfg.format in SUBSAMPLED else 1
    # Short clouds are reported (`short_clouds`), not refused: read them padded.
    asked_resample, cfg.allow_resample = cfg.allow_resample, True
    dataset = data.read(cfg, min_points=1)
  except UserError as e:
    print(f'error: {" ".join(str(e).split())}', file=sys.stderr)
    return 2
  print('\n'.join(summary_lines(cfg.format, dataset)))
  note = None if asked_resample else short_clouds(dataset, cfg.num_points)
  if note:
    print(note)
  if args.json:
    print(json.dumps({'format': cfg.format, 'name': dataset.name,
                      'classes': list(dataset.class_names),
                      'train': len(dataset.train), 'test': len(dataset.test),
                      'points': int(dataset.train.points.shape[1]),
                      'sizes': {s: sizes(split) for s, split in dataset.splits.items()}}))
  return 0


if __name__ == '__main__':
  sys.exit(main())
