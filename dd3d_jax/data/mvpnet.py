"""MVPNet (point clouds from MVImgNet): the folder layout this reader assumes.

The public release's layout is not pinned down, so this reader defines one:

  path/
    classes.txt        optional: one category per line, line i = class i
                       (default: the category folders, sorted by name)
    train_list.txt     one relative path per line: `<category>/<object>.<ext>`
    test_list.txt
    <category>/<object>.<ext>

A point file is `.ply`, `.npy`, `.txt` or `.xyz` (`dd3d_jax.data.pointfiles`). A file's
class is its category folder. Every cloud must have at least
`num_points` points (unless `allow_resample`, see `checks.take_points`) and is
subsampled to `num_points` as it is read, reproducibly (seeded by seed, split and the
file's position in its list), so a split stacks into [N, num_points, 3].
MVPNet is never used in the rotated setting (its objects are seen from 180 degrees).
"""

from __future__ import annotations

import os

import numpy as np

from dd3d_jax.data import checks
from dd3d_jax.data.dataset import PointCloudDataset, Split
from dd3d_jax.data.pointfiles import read_cloud
from dd3d_jax.errors import DataError

SPLITS = ('train', 'test')


def class_names(path: str) -> tuple[str, ...]:
  """From `classes.txt`, else the category folders sorted by name."""
  listed = os.path.join(path, 'classes.txt')
  if os.path.exists(listed):
    return checks.read_class_names(listed)
  return tuple(sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))))


def read_mvpnet(path: str, num_points: int, seed: int = 0,
                allow_resample: bool = False) -> PointCloudDataset:
  """Reads the layout of the module docstring: [N, num_points, 3] points, [N] labels."""
  checks.require_dir(path)
  names = class_names(path)
  label_of = {name: i for i, name in enumerate(names)}
  splits = {}
  for split_id, split in enumerate(SPLITS):
    list_file = os.path.join(path, f'{split}_list.txt')
    entries = checks.read_lines(list_file)
    labels = []
    for entry in entries:
      category = entry.split('/')[0]
      if category not in label_of:
        raise DataError(f'{list_file}: lists {entry!r}, whose category {category!r} is not a '
                        f'class ({len(names)} classes); fix the list or classes.txt.')
      labels.append(label_of[category])
    if not entries:
      raise DataError(f'{list_file}: lists no point files; list `<category>/<object>.<ext>` '
                      f'paths, one a line.')
    files = [os.path.join(path, entry) for entry in entries]
    points, sizes = checks.stack_clouds(((f, read_cloud(f)) for f in files), num_points, seed,
                                        split_id, allow_resample)
    splits[split] = Split(points, np.array(labels, np.int32), sizes=sizes)
  checks.check_classes_present(os.path.join(path, 'train_list.txt'), splits['train'].labels,
                               names)
  return PointCloudDataset(f'mvpnet{len(names)}', names, splits, source=path)
