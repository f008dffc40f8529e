"""Your own point files, one folder per class (format `class_folders`).

Three layouts, told apart by the folder names:

  path/<class>/<name>.<ext>           no split: a seeded, stratified share
                                      `data.test_fraction` of each class's files
                                      tests (`dataset.holdout`), the rest trains
  path/<class>/{train,test}/<name>.<ext>
  path/{train,test}/<class>/<name>.<ext>

Classes are `classes.txt` (line i = class i) where the folder has one, else the class
folders sorted by name. A point file is `.ply`, `.npy`, `.txt` or `.xyz`
(`dd3d_jax.data.pointfiles`), in files sorted by name; hidden files are skipped, and
other files too, but a class left without point files is refused naming what it
holds. Clouds may have any number of points: each is subsampled to `num_points` as it
is read, seeded by the seed, the split and its position (`checks.stack_clouds`); one
with fewer points is refused unless `data.allow_resample`. Each split keeps the raw
sizes (`Split.sizes`).
"""

from __future__ import annotations

import os

import numpy as np

from dd3d_jax.data import checks
from dd3d_jax.data.dataset import PointCloudDataset, Split, holdout
from dd3d_jax.data.pointfiles import LOADERS, read_cloud
from dd3d_jax.errors import DataError

SPLITS = ('train', 'test')


def _entries(folder: str) -> list[str]:
  return sorted(e for e in os.listdir(folder) if not e.startswith('.'))


def _is_dir(folder: str, name: str) -> bool:
  return os.path.isdir(os.path.join(folder, name))


def _looks_like_points(file: str) -> bool:
  """A point file by its extension; a text one only if its first row starts with three
  numbers (so a list or class-name `.txt` of another layout is not taken for a cloud)."""
  ext = os.path.splitext(file)[1].lower()
  if ext not in LOADERS or not os.path.isfile(file):
    return False
  if ext not in ('.txt', '.xyz'):
    return True
  try:
    with open(file, 'rb') as f:
      rows = [r for r in f.read(4096).decode('utf-8', 'replace').splitlines()
              if r.strip() and not r.lstrip().startswith('#')]
    first = rows[0].split() if rows else []
    return len(first) >= 3 and len([float(x) for x in first[:3]]) == 3
  except (OSError, ValueError):  # ValueError: a word, not a number
    return False


def has_point_files(path: str) -> bool:
  """Whether `path` looks like this layout: at least two class folders holding point
  files (directly or in train/), or train/ and test/ folders of such class folders.
  (One folder of point files is not a classification set; this also keeps a folder that
  merely contains dataset folders from being taken for one.)"""
  def holds_points(folder):  # <class>/<file> or <class>/train/<file>
    for inner in (folder, os.path.join(folder, SPLITS[0])):
      if os.path.isdir(inner) and any(_looks_like_points(os.path.join(inner, e))
                                      for e in _entries(inner)):
        return True
    return False

  def classes(folder):
    return sum(holds_points(os.path.join(folder, e)) for e in _entries(folder)
               if _is_dir(folder, e))
  try:
    if all(_is_dir(path, s) for s in SPLITS):
      return classes(os.path.join(path, SPLITS[0])) >= 2
    return classes(path) >= 2
  except OSError:
    return False


def _point_files(folder: str, what: str) -> list[str]:
  """The point files of one class folder (sorted), or a DataError saying what it holds."""
  entries = _entries(folder) if os.path.isdir(folder) else []
  files = [e for e in entries if os.path.splitext(e)[1].lower() in LOADERS
           and os.path.isfile(os.path.join(folder, e))]
  if not files:
    found = ', '.join(entries[:5]) + (', ...' if len(entries) > 5 else '') or 'nothing'
    raise DataError(f'{folder}: {what} holds no point file (looked for '
                    f'{", ".join(sorted(LOADERS))}; found {found}); add its clouds in one of '
                    'these formats, or drop the class.')
  return [os.path.join(folder, f) for f in files]


def _class_names(path: str, folders: list[str]) -> tuple[str, ...]:
  listed = os.path.join(path, 'classes.txt')
  if os.path.exists(listed):
    names = checks.read_class_names(listed)
    unknown = sorted(set(folders) - set(names))
    if unknown:
      raise DataError(f'{listed}: does not list the class folder {unknown[0]!r} '
                      f'({len(unknown)} unlisted); add it or remove the folder.')
    return names
  return tuple(folders)


def _files_by_split(path: str) -> tuple[tuple[str, ...], dict[str, list[tuple[str, int]]] | None,
                                        list[tuple[str, int]]]:
  """(class names, {split: [(file, label)]} or None when the data has no split, and
  every (file, label) of the unsplit layout)."""
  tops = [e for e in _entries(path) if _is_dir(path, e)]
  if not tops:
    found = ', '.join(_entries(path)[:5]) or 'nothing'
    raise DataError(f'{path}: no class folders (found {found}); put each class\'s point files '
                    'in a folder named after the class.')
  if set(tops) >= set(SPLITS):  # <split>/<class>/
    per_split = {s: sorted(e for e in _entries(os.path.join(path, s))
                           if _is_dir(os.path.join(path, s), e)) for s in SPLITS}
    names = _class_names(path, sorted(set(per_split['train']) | set(per_split['test'])))
    return names, {s: [(f, names.index(c)) for c in per_split[s]
                       for f in _point_files(os.path.join(path, s, c), f'class {c!r}')]
                   for s in SPLITS}, []
  names = _class_names(path, tops)
  split_folders = [c for c in names if os.path.isdir(os.path.join(path, c, SPLITS[0]))]
  if split_folders and len(split_folders) < len(names):
    plain = next(c for c in names if c not in split_folders)
    raise DataError(f'{os.path.join(path, plain)}: has no train/ folder, but '
                    f'{os.path.join(path, split_folders[0])} has one; give every class '
                    'train/ and test/ folders, or none (then data.test_fraction splits).')
  if split_folders:  # <class>/<split>/
    return names, {s: [(f, i) for i, c in enumerate(names)
                       for f in _point_files(os.path.join(path, c, s), f'class {c!r}')]
                   for s in SPLITS}, []
  return names, None, [(f, i) for i, c in enumerate(names)
                       for f in _point_files(os.path.join(path, c), f'class {c!r}')]


def read_folders(path: str, num_points: int, seed: int = 0, allow_resample: bool = False,
                 test_fraction: float = 0.2) -> PointCloudDataset:
  """Reads the layouts of the module docstring.

  Returns:
    name: the folder's (`checks.data_name`); 'train' and 'test' splits of
    [N, num_points, 3] float32 points, [N] int32 labels and their raw sizes.
  Raises:
    DataError: no class folders, a class without point files (naming what it holds),
      a mix of split and unsplit classes, an unreadable cloud or one shorter than
      `num_points` (`checks.stack_clouds`), a class without training clouds.
  """
  checks.require_dir(path)
  names, split_files, unsplit = _files_by_split(path)
  if split_files is None:
    labels = np.array([label for _, label in unsplit], np.int32)
    test = holdout(labels, len(names), test_fraction, seed)
    split_files = {'train': [e for e, t in zip(unsplit, test) if not t],
                   'test': [e for e, t in zip(unsplit, test) if t]}
    if not split_files['test']:
      raise DataError(f'{path}: every class has a single file, so none is left to test; add '
                      'clouds, or give train/ and test/ folders.')
  splits = {}
  for split_id, split in enumerate(SPLITS):
    files = split_files[split]
    points, sizes = checks.stack_clouds(((f, read_cloud(f)) for f, _ in files), num_points,
                                        seed, split_id, allow_resample)
    splits[split] = Split(points, np.array([label for _, label in files], np.int32),
                          sizes=sizes)
  checks.check_classes_present(path, splits['train'].labels, names)
  return PointCloudDataset(checks.data_name(path), names, splits, source=path)
