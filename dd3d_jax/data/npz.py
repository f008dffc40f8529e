"""Custom data as one .npz file per split or one file with both splits.

Layout (no pickles): `points` [N, P, 3] float, `labels` [N] int, `class_names` [K] str,
optionally `parts` [N, P] int; either one file per split in a folder
(`train.npz`, `test.npz`) or a single file with `train_points`, `train_labels`,
`test_points`, `test_labels`, `class_names` (and optionally `*_parts`).
"""

from __future__ import annotations

import os
import zipfile
import zlib

import numpy as np

from dd3d_jax.data.checks import detail, whole_ids
from dd3d_jax.data.dataset import PointCloudDataset, Split, coordinate_problem, real_numbers
from dd3d_jax.errors import DataError

# How to write a file this reader takes: plain numeric and string arrays, no pickles.
RESAVE = ('re-save it with plain arrays: np.savez(path, points=np.asarray(x, np.float32), '
          'labels=np.asarray(y, np.int32), class_names=np.asarray(names, str)) (see docs/data.md)')


def _load(path: str) -> dict[str, np.ndarray]:
  """Every array of an .npz file; anything that is not one is a DataError naming it."""
  if not os.path.isfile(path):
    raise DataError(f'{path}: no such file; point data.path at your .npz (see docs/data.md).')
  if not zipfile.is_zipfile(path):
    raise DataError(f'{path}: not a valid .npz file (not a zip archive of .npy arrays: damaged, '
                    f'cut short or another format); {RESAVE}.')
  try:
    with np.load(path, allow_pickle=False) as f:
      arrays = {k: f[k] for k in f.files}
  except (ValueError, OSError, EOFError, KeyError, RuntimeError, NotImplementedError,
          zipfile.BadZipFile, zlib.error) as e:
    if isinstance(e, ValueError) and ('pickle' in str(e) or 'Object arrays' in str(e)):
      raise DataError(f'{path}: holds object arrays (Python pickles, which are never loaded); '
                      f'{RESAVE}.') from None
    raise DataError(f'{path}: damaged .npz file ({detail(e)}); {RESAVE}.') from None
  for key, value in arrays.items():
    if not isinstance(value, np.ndarray):
      raise DataError(f'{path}: member {key!r} is not a NumPy array (.npy); {RESAVE}.')
  return arrays


def _split(arrays: dict, prefix: str, path: str, num_classes: int) -> Split:
  """One split's checked arrays: float32 points, int32 labels in range, int32 parts."""
  keys = [f'{prefix}points', f'{prefix}labels']
  missing = [k for k in keys if k not in arrays]
  if missing:
    raise DataError(f'{path}: missing arrays {missing}; save {keys} (+ class_names) with np.savez.')
  points = arrays[keys[0]]
  if not real_numbers(points.dtype):
    raise DataError(f'{path}: {keys[0]} has dtype {points.dtype}, expected real numbers; save the '
                    'points as float32.')
  if points.ndim != 3 or points.shape[-1] != 3:
    raise DataError(f'{path}: {keys[0]} has shape {points.shape}, expected (N, P, 3); save the '
                    'clouds as one [N, P, 3] array.')
  problem = coordinate_problem(points, 'drop or repair those clouds.')
  if problem:
    raise DataError(f'{path}: {keys[0]}: {problem}')
  labels = arrays[keys[1]]
  if labels.dtype.kind not in 'iu':
    raise DataError(f'{path}: {keys[1]} has dtype {labels.dtype}, expected int; save the labels as '
                    'int32 class indices.')
  labels = whole_ids(f'{path}: {keys[1]}', 'label', labels.reshape(-1), num_classes,
                     'classes of class_names', 'labels must be 0..K-1, one per class name')
  parts = arrays.get(f'{prefix}parts')
  if parts is not None:
    parts = whole_ids(f'{path}: {prefix}parts', 'part id', parts, None, '',
                      'save them as int32 part ids >= 0')
  return Split(points.astype(np.float32), labels, parts)


def _class_names(arrays: dict, path: str) -> tuple[str, ...]:
  """class_names as strings: a str array, UTF-8 bytes, or integers."""
  if 'class_names' not in arrays:
    raise DataError(f'{path}: missing array class_names; save it as a [K] array of str.')
  names = arrays['class_names'].reshape(-1)
  if not len(names):
    raise DataError(f'{path}: class_names is empty; save it as a [K] array of str, one name per '
                    'class.')
  if names.dtype.kind == 'S':
    try:
      return tuple(n.decode('utf-8') for n in names)
    except UnicodeDecodeError:
      raise DataError(f'{path}: class_names holds bytes that are not UTF-8; save it as a [K] '
                      'array of str.') from None
  if names.dtype.kind not in 'Uiu':
    raise DataError(f'{path}: class_names has dtype {names.dtype}, expected str; save it as a '
                    '[K] array of str.')
  return tuple(str(n) for n in names)


def read_npz(path: str) -> PointCloudDataset:
  """Reads custom data (see module docstring): a folder of split files or one file.

  Raises:
    DataError: one line naming the file: not an .npz, object arrays, a missing array,
      points that are not [N, P, 3] real numbers (complex is refused, never truncated)
      or whose coordinates fail `coordinate_problem`, labels that are not integers in
      [0, K), part ids that are not whole numbers >= 0.
  """
  if os.path.isdir(path):
    splits, names = {}, None
    for split in ('train', 'test', 'val'):
      file = os.path.join(path, f'{split}.npz')
      if split == 'val' and not os.path.exists(file):
        continue
      arrays = _load(file)
      names = names or _class_names(arrays, file)
      splits[split] = _split(arrays, '', file, len(names))
    return PointCloudDataset('npz', names, splits, source=path)
  arrays = _load(path)
  names = _class_names(arrays, path)
  splits = {s: _split(arrays, f'{s}_', path, len(names)) for s in ('train', 'test')}
  return PointCloudDataset('npz', names, splits, source=path)
