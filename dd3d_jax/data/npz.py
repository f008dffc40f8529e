"""Custom data as one .npz file per split or one file with both splits.

Layout (no pickles): `points` [N, P, 3] float, `labels` [N] int, `class_names` [K] str,
optionally `parts` [N, P] int; either one file per split in a folder
(`train.npz`, `test.npz`) or a single file with `train_points`, `train_labels`,
`test_points`, `test_labels`, `class_names` (and optionally `*_parts`).
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from dd3d_jax.data.dataset import PointCloudDataset, Split
from dd3d_jax.errors import DataError


def _load(path: str) -> dict[str, np.ndarray]:
  if not os.path.isfile(path):
    raise DataError(f'{path}: no such file; point data.path at your .npz (see docs/data.md).')
  try:
    with np.load(path, allow_pickle=False) as f:
      return {k: f[k] for k in f.files}
  except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
    raise DataError(f'{path}: not a readable .npz file ({e}); re-save it with np.savez.') from None


def _split(arrays: dict, prefix: str, path: str) -> Split:
  keys = [f'{prefix}points', f'{prefix}labels']
  missing = [k for k in keys if k not in arrays]
  if missing:
    raise DataError(f'{path}: missing arrays {missing}; save {keys} (+ class_names) with np.savez.')
  points = arrays[keys[0]]
  if not np.issubdtype(points.dtype, np.number):
    raise DataError(f'{path}: {keys[0]} has dtype {points.dtype}, expected float; save the '
                    'points as float32.')
  labels = arrays[keys[1]]
  if not np.issubdtype(labels.dtype, np.integer):
    raise DataError(f'{path}: {keys[1]} has dtype {labels.dtype}, expected int; save the labels as '
                    'int32 class indices.')
  parts = arrays.get(f'{prefix}parts')
  return Split(points.astype(np.float32), labels.reshape(-1).astype(np.int32),
               None if parts is None else parts.astype(np.int32))


def _class_names(arrays: dict, path: str) -> tuple[str, ...]:
  if 'class_names' not in arrays:
    raise DataError(f'{path}: missing array class_names; save it as a [K] array of str.')
  return tuple(str(n) for n in arrays['class_names'].reshape(-1))


def read_npz(path: str) -> PointCloudDataset:
  """Reads custom data (see module docstring): a folder of split files or one file."""
  if os.path.isdir(path):
    splits, names = {}, None
    for split in ('train', 'test', 'val'):
      file = os.path.join(path, f'{split}.npz')
      if split == 'val' and not os.path.exists(file):
        continue
      arrays = _load(file)
      splits[split] = _split(arrays, '', file)
      names = names or _class_names(arrays, file)
    return PointCloudDataset('npz', names, splits, source=path)
  arrays = _load(path)
  splits = {s: _split(arrays, f'{s}_', path) for s in ('train', 'test')}
  return PointCloudDataset('npz', _class_names(arrays, path), splits, source=path)
