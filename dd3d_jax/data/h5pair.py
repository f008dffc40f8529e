"""Your own h5 files, one (or more) per split (format `h5_pair`).

Layout: a folder whose h5 files name their split, `*train*.h5` and `*test*.h5` (e.g.
`train.h5` and `test.h5`; several files of a split are read in name order; files
naming neither are skipped). Each holds

  data (or points)   [n, P, C >= 3] real: the first three columns are x y z
  label (or labels)  [n] or [n, 1] whole numbers: class ids
  pid (or parts)     optional [n, P] whole numbers: part ids

Class names come from a `class_names` array in the first train file, else from
`shape_names.txt` or `classes.txt` in the folder (line i = class i), else they are
`class_0`, `class_1`, ... up to the largest label. No list files are needed (a
folder with ModelNet40's `*_files.txt` is read as ModelNet40, `modelnet40_h5`). Files
of one split with different P are brought to the smallest P (seeded subsampling).
"""

from __future__ import annotations

import glob
import os

import numpy as np

from dd3d_jax.data import checks, preprocess
from dd3d_jax.data.dataset import PointCloudDataset, Split
from dd3d_jax.errors import DataError

SPLITS = ('train', 'test')
KEYS = {'points': ('data', 'points'), 'labels': ('label', 'labels'), 'parts': ('pid', 'parts')}
NAME_FILES = ('shape_names.txt', 'classes.txt')
FIX = 're-write it with h5py: data [n, P, 3] float32 and label [n] int (see docs/data.md)'


def split_files(path: str) -> dict[str, list[str]]:
  """{split: its h5 files, sorted}; a file naming both splits is refused."""
  files = sorted(glob.glob(os.path.join(glob.escape(path), '*.h5')))
  out = {s: [f for f in files if s in os.path.basename(f).lower()] for s in SPLITS}
  both = set(out['train']) & set(out['test'])
  if both:
    raise DataError(f'{sorted(both)[0]}: the name says both train and test; rename it so that '
                    'it names one split.')
  for split, found in out.items():
    if not found:
      raise DataError(f'{path}: no *{split}*.h5 file (found {len(files)} h5 files: '
                      f'{", ".join(map(os.path.basename, files[:4])) or "none"}); name each '
                      f'file after its split, e.g. train.h5 and test.h5.')
  return out


def _key(file: str, keys: list[str], what: str, required: bool = True) -> str | None:
  found = [k for k in KEYS[what] if k in keys]
  if not found and required:
    raise DataError(f'{file}: no {" or ".join(KEYS[what])} array (the file has {keys}); '
                    f'{FIX}.')
  return found[0] if found else None


def _names_in(file: str, keys: list[str]) -> tuple[str, ...] | None:
  if 'class_names' not in keys:
    return None
  names = checks.read_h5(file, ('class_names',))['class_names'].reshape(-1)
  try:
    return tuple(n.decode('utf-8') if isinstance(n, bytes) else str(n) for n in names)
  except UnicodeDecodeError:
    raise DataError(f'{file}: class_names holds bytes that are not UTF-8; save it as UTF-8 '
                    'strings.') from None


def _class_names(path: str, first: str, labels: list[np.ndarray]) -> tuple[str, ...]:
  names = _names_in(first, checks.h5_keys(first))
  for listed in NAME_FILES:
    if names is None and os.path.exists(os.path.join(path, listed)):
      names = checks.read_class_names(os.path.join(path, listed))
  if names is None:
    names = checks.numbered_class_names(path, labels)
  return names


def _read_file(file: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
  keys = checks.h5_keys(file)
  chosen = {w: _key(file, keys, w, w != 'parts') for w in KEYS}
  arrays = checks.read_h5(file, tuple(k for k in chosen.values() if k))
  points = arrays[chosen['points']]
  if points.ndim == 3 and points.shape[-1] > 3:
    points = points[..., :3]
  return points, arrays[chosen['labels']], arrays[chosen['parts']] if chosen['parts'] else None


def read_h5_pair(path: str, min_points: int = 1, seed: int = 0) -> PointCloudDataset:
  """Reads the layout of the module docstring (raw clouds, not normalised).

  Returns:
    name: the folder's (`checks.data_name`), K classes, 'train' and 'test' splits of
    [N, P, 3] points, [N] labels and, where the files have them, [N, P] part ids.
  Raises:
    DataError: a split without files, a file without points or labels (naming the
      arrays it has), clouds, labels or part ids that `checks.check_clouds` refuses.
  """
  checks.require_dir(path)
  files = split_files(path)
  raw = {s: [_read_file(f) for f in fs] for s, fs in files.items()}
  names = _class_names(path, files['train'][0], [l for s in SPLITS for _, l, _ in raw[s]])
  splits = {}
  for split_id, split in enumerate(SPLITS):
    checked = [checks.check_clouds(f, p, l, len(names), min_points, q)
               for f, (p, l, q) in zip(files[split], raw[split])]
    with_parts = {q is not None for _, _, q in checked}
    if len(with_parts) > 1:
      raise DataError(f'{path}: some {split} files have part ids and some do not; give every '
                      'file pid, or none.')
    size = min(p.shape[1] for p, _, _ in checked)
    seeds = [preprocess.split_seed(seed, os.path.basename(f)) for f in files[split]]
    points, parts = zip(*[preprocess.subsample_points(p, size, s, q)
                          for s, (p, _, q) in zip(seeds, checked)])
    splits[split] = Split(np.concatenate(points), np.concatenate([l for _, l, _ in checked]),
                          None if parts[0] is None else np.concatenate(parts),
                          np.concatenate([np.full(len(l), p.shape[1], np.int64)
                                          for p, l, _ in checked]))
  checks.check_classes_present(files['train'][0], splits['train'].labels, names)
  return PointCloudDataset(checks.data_name(path), names, splits, source=path)
