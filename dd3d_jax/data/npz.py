"""Your own data as .npz (format `npz`): one file, or a folder of one file per split.

Arrays (plain numbers and strings, no pickles), in three forms:

- a folder with `train.npz` and `test.npz` (optionally `val.npz`), each holding
  `points`, `labels` and optionally `class_names`, `parts`;
- one file with `train_points`, `train_labels`, `test_points`, `test_labels` and
  optionally `class_names`, `train_parts`, `test_parts`;
- one file with `points`, `labels` and optionally `class_names`, `parts` and no split
  (such as the package's own `sets/*.npz`): a seeded, stratified share
  `data.test_fraction` of each class tests (`dataset.holdout`).

`points` is [N, P, 3] real numbers, `labels` [N] whole numbers in [0, K), `parts`
[N, P] whole numbers >= 0, `class_names` [K] str (default `class_0`, `class_1`, ...).
Clouds of different sizes come ragged, without objects: `points` [T, 3] the clouds
one after another and `lengths` [N] their sizes (summing to T; `train_lengths` in the
split form); each is subsampled to `num_points` as it is read (`checks.stack_clouds`;
shorter clouds need `data.allow_resample`) and the split keeps the raw sizes.
"""

from __future__ import annotations

import os
import zipfile
import zlib

import numpy as np

from dd3d_jax.data import checks
from dd3d_jax.data.checks import detail, whole_ids
from dd3d_jax.data.dataset import (PointCloudDataset, Split, coordinate_problem, holdout,
                                  real_numbers)
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


def _split(arrays: dict, prefix: str, path: str, num_classes: int, num_points: int,
           seed: int, split_id: int, allow_resample: bool) -> Split:
  """One split's checked arrays: float32 points, int32 labels in range, int32 parts;
  ragged clouds (`lengths`) brought to `num_points`."""
  keys = [f'{prefix}points', f'{prefix}labels']
  points = arrays[keys[0]]
  if not real_numbers(points.dtype):
    raise DataError(f'{path}: {keys[0]} has dtype {points.dtype}, expected real numbers; save the '
                    'points as float32.')
  labels = arrays[keys[1]]
  if labels.dtype.kind not in 'iu':
    raise DataError(f'{path}: {keys[1]} has dtype {labels.dtype}, expected int; save the labels as '
                    'int32 class indices.')
  labels = whole_ids(f'{path}: {keys[1]}', 'label', labels.reshape(-1), num_classes,
                     'classes of class_names', 'labels must be 0..K-1, one per class name')
  sizes = None
  if f'{prefix}lengths' in arrays:
    points, sizes = _unravel(arrays, prefix, path, len(labels), num_points, seed, split_id,
                             allow_resample)
  if points.ndim != 3 or points.shape[-1] != 3:
    raise DataError(f'{path}: {keys[0]} has shape {points.shape}, expected (N, P, 3) (or '
                    f'(T, 3) with {prefix}lengths for clouds of different sizes); save the '
                    'clouds as one [N, P, 3] array.')
  problem = coordinate_problem(points, 'drop or repair those clouds.')
  if problem:
    raise DataError(f'{path}: {keys[0]}: {problem}')
  parts = arrays.get(f'{prefix}parts')
  if parts is not None:
    if sizes is not None:
      raise DataError(f'{path}: {prefix}parts with ragged clouds ({prefix}lengths) is not read; '
                      'save clouds of one size [N, P, 3] with parts [N, P].')
    parts = whole_ids(f'{path}: {prefix}parts', 'part id', parts, None, '',
                      'save them as int32 part ids >= 0')
  return Split(points.astype(np.float32), labels, parts, sizes)


def _unravel(arrays: dict, prefix: str, path: str, count: int, num_points: int, seed: int,
             split_id: int, allow_resample: bool) -> tuple[np.ndarray, np.ndarray]:
  """Ragged clouds ([T, 3] points, [N] lengths) as [N, num_points, 3] and their sizes."""
  points, lengths = arrays[f'{prefix}points'], arrays[f'{prefix}lengths'].reshape(-1)
  if points.ndim != 2 or points.shape[-1] != 3:
    raise DataError(f'{path}: {prefix}points has shape {points.shape}, but with '
                    f'{prefix}lengths the clouds come one after another as (T, 3); save them '
                    'so, or drop lengths for one [N, P, 3] array.')
  lengths = whole_ids(f'{path}: {prefix}lengths', 'length', lengths, None, '',
                      'save the size of each cloud as an int')
  if len(lengths) != count or lengths.sum(dtype=np.int64) != len(points):
    raise DataError(f'{path}: {prefix}lengths has {len(lengths)} sizes summing to '
                    f'{int(lengths.sum(dtype=np.int64))}, for {count} labels and {len(points)} '
                    'points; give one size per cloud, summing to the points.')
  ends = np.cumsum(lengths)
  clouds = ((f'{path}: cloud {i} of {prefix}points', points[end - size:end])
            for i, (size, end) in enumerate(zip(lengths, ends)))
  return checks.stack_clouds(clouds, num_points, seed, split_id, allow_resample)


def _require(arrays: dict, path: str, keys: list[str], forms: str) -> None:
  missing = [k for k in keys if k not in arrays]
  if missing:
    raise DataError(f'{path}: missing arrays {", ".join(missing)} (the file has '
                    f'{", ".join(sorted(arrays)) or "none"}; looked for {forms}); save them with '
                    'np.savez (see docs/data.md).')


def _class_names(arrays: dict, path: str, labels: list[np.ndarray]) -> tuple[str, ...]:
  """class_names as strings (a str array, UTF-8 bytes, or integers); absent: numbered."""
  if 'class_names' not in arrays:
    return checks.numbered_class_names(path, labels)
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


SPLIT_FORM = 'train_points, train_labels, test_points, test_labels'
ONE_SET_FORM = 'points, labels (one set, split by data.test_fraction)'


def read_npz(path: str, num_points: int = 1, seed: int = 0, allow_resample: bool = False,
             test_fraction: float = 0.2) -> PointCloudDataset:
  """Reads custom data in a form of the module docstring.

  Raises:
    DataError: one line naming the file: not an .npz, object arrays, missing arrays (all
      of them, with the arrays the file has), points that are not [N, P, 3] (or ragged
      [T, 3] with lengths) real numbers (complex is refused, never truncated) or whose
      coordinates fail `coordinate_problem`, labels that are not integers in [0, K),
      part ids that are not whole numbers >= 0.
  """
  def split(arrays, prefix, file, names, split_id):
    return _split(arrays, prefix, file, len(names), num_points, seed, split_id, allow_resample)

  if os.path.isdir(path):
    loaded = {}
    for name in ('train', 'test', 'val'):
      file = os.path.join(path, f'{name}.npz')
      if name != 'val' or os.path.exists(file):
        loaded[name] = (file, _load(file))
        _require(loaded[name][1], file, ['points', 'labels'], 'points, labels')
    first, arrays = loaded['train']
    names = _class_names(arrays, first, [a['labels'] for _, a in loaded.values()])
    splits = {s: split(a, '', f, names, i) for i, (s, (f, a)) in enumerate(loaded.items())}
    return PointCloudDataset(checks.data_name(path), names, splits, source=path)
  arrays = _load(path)
  if any(k.startswith(('train_', 'test_')) for k in arrays):
    _require(arrays, path, SPLIT_FORM.split(', '), SPLIT_FORM)
    names = _class_names(arrays, path, [arrays['train_labels'], arrays['test_labels']])
    splits = {s: split(arrays, f'{s}_', path, names, i) for i, s in enumerate(('train', 'test'))}
    return PointCloudDataset(checks.data_name(path), names, splits, source=path)
  _require(arrays, path, ['points', 'labels'], f'{SPLIT_FORM}, or {ONE_SET_FORM}')
  names = _class_names(arrays, path, [arrays['labels']])
  whole = split(arrays, '', path, names, 0)
  test = holdout(whole.labels, len(names), test_fraction, seed)
  if not test.any():
    raise DataError(f'{path}: every class has a single cloud, so none is left to test; add '
                    f'clouds, or give the split ({SPLIT_FORM}).')
  splits = {name: Split(whole.points[mask], whole.labels[mask],
                        None if whole.parts is None else whole.parts[mask],
                        None if whole.sizes is None else whole.sizes[mask])
            for name, mask in (('train', ~test), ('test', test))}
  return PointCloudDataset(checks.data_name(path), names, splits, source=path)
