"""ModelNet40 as released in `modelnet40_ply_hdf5_2048/` (PointNet's HDF5 copy).

Layout: `shape_names.txt` (line i = name of class i); `train_files.txt` and
`test_files.txt`, one h5 file per line; each h5 holds `data` (n, P, 3) float and
`label` (n, 1) or (n,) int (other keys such as `normal`, `faceId` are ignored).
The official lists prefix the names with `data/modelnet40_ply_hdf5_2048/`; an entry
is looked up relative to the folder, then to its parent, then by its bare name in
the folder. Any class count works (e.g. a ModelNet10 copy in the same layout).
"""

from __future__ import annotations

import os

import numpy as np

from dd3d_jax.data import checks
from dd3d_jax.data.dataset import PointCloudDataset, Split
from dd3d_jax.errors import DataError


def resolve_entry(folder: str, list_file: str, entry: str) -> str:
  """The h5 file a file-list entry names (see module docstring for the lookup order)."""
  candidates = (os.path.join(folder, entry),
                os.path.join(os.path.dirname(os.path.abspath(folder)), entry),
                os.path.join(folder, os.path.basename(entry)))
  for candidate in candidates:
    if os.path.isfile(candidate):
      return candidate
  raise DataError(f'{list_file}: lists {entry!r}, which is not in {folder}; re-download the '
                  f'dataset (see docs/data.md) or fix the list.')


def read_split(folder: str, list_name: str, num_classes: int, min_points: int = 1) -> Split:
  """Concatenates the h5 files listed in `folder/list_name` into one Split [N, P, 3]."""
  list_file = os.path.join(folder, list_name)
  entries = checks.read_lines(list_file)
  if not entries:
    raise DataError(f'{list_file}: lists no h5 files; re-download the dataset (see docs/data.md).')
  points, labels = [], []
  for entry in entries:
    file = resolve_entry(folder, list_file, entry)
    arrays = checks.read_h5(file, ('data', 'label'))
    p, l, _ = checks.check_clouds(file, arrays['data'], arrays['label'], num_classes, min_points)
    if points and p.shape[1] != points[0].shape[1]:
      raise DataError(f'{file}: clouds have {p.shape[1]} points but the earlier files of '
                      f'{list_name} have {points[0].shape[1]}; use files of one resolution.')
    points.append(p)
    labels.append(l)
  return Split(np.concatenate(points), np.concatenate(labels))


def read_modelnet40_h5(path: str, min_points: int = 1) -> PointCloudDataset:
  """Reads `modelnet40_ply_hdf5_2048/` (raw clouds, not normalised).

  Args:
    path: the dataset folder.
    min_points: every cloud must have at least this many points (data.num_points).
  Returns:
    name 'modelnet{K}', K classes from shape_names.txt, 'train' and 'test' splits of
    [N, P, 3] points and [N] labels.
  """
  checks.require_dir(path)
  class_names = checks.read_class_names(os.path.join(path, 'shape_names.txt'))
  splits = {split: read_split(path, f'{split}_files.txt', len(class_names), min_points)
            for split in ('train', 'test')}
  checks.check_classes_present(os.path.join(path, 'train_files.txt'), splits['train'].labels,
                               class_names)
  return PointCloudDataset(f'modelnet{len(class_names)}', class_names, splits, source=path)
