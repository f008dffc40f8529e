"""Datasets: readers per published layout, the procedural default, preprocessing.

`load(data_config)` reads the dataset named by `data_config.format` from
`data_config.path`, validates it and prepares it (resolution, scale, rotated
setting). Every reader returns a `PointCloudDataset`; `format = 'auto'` picks the
reader from the files at the path (`detect_format`).
"""

from __future__ import annotations

import dataclasses
import glob
import os

from dd3d_jax.data import (folders, h5pair, modelnet, mvpnet, npz, preprocess, scanobjectnn,
                           shapenetpart, shapes)
from dd3d_jax.data.dataset import PointCloudDataset, Split, validate
from dd3d_jax.errors import ConfigError, DataError

READERS = {
    'shapes': lambda cfg: shapes.make_shapes(
        cfg.shapes.num_train_per_class, cfg.shapes.num_test_per_class, cfg.num_points, cfg.seed,
        cfg.shapes.max_crop, cfg.shapes.family),
    'npz': lambda cfg: npz.read_npz(cfg.path, cfg.num_points, cfg.seed, cfg.allow_resample,
                                    cfg.test_fraction),
    'modelnet40_h5': lambda cfg: modelnet.read_modelnet40_h5(cfg.path, cfg.num_points),
    'scanobjectnn_h5': lambda cfg: scanobjectnn.read_scanobjectnn_h5(
        cfg.path, cfg.variant or 'obj_bg', cfg.num_points),
    'shapenetpart_h5': lambda cfg: shapenetpart.read_shapenetpart_h5(cfg.path, cfg.num_points),
    'shapenetpart_txt': lambda cfg: shapenetpart.read_shapenetpart_txt(
        cfg.path, cfg.num_points, cfg.seed, cfg.allow_resample),
    'mvpnet': lambda cfg: mvpnet.read_mvpnet(cfg.path, cfg.num_points, cfg.seed,
                                             cfg.allow_resample),
    'h5_pair': lambda cfg: h5pair.read_h5_pair(cfg.path, cfg.num_points, cfg.seed),
    'class_folders': lambda cfg: folders.read_folders(cfg.path, cfg.num_points, cfg.seed,
                                                      cfg.allow_resample, cfg.test_fraction),
}


# The published layouts: format -> (name, the files that mark it: all must be present).
# The first complete match wins, in this order; see each reader's module docstring.
LAYOUTS = {
    'npz': ('npz', ('train.npz',)),
    'modelnet40_h5': ('ModelNet40 h5', ('shape_names.txt', '*_files.txt')),
    'shapenetpart_h5': ('ShapeNet-part h5', ('all_object_categories.txt', 'ply_data_*.h5')),
    'shapenetpart_txt': ('ShapeNet-part txt', ('synsetoffset2category.txt',)),
    'scanobjectnn_h5': ('ScanObjectNN h5', ('main_split*/',)),
    'mvpnet': ('MVPNet', ('train_list.txt', '*/')),
}
SCAN_SPLIT_FOLDER = '*objectdataset*.h5'  # path is a ScanObjectNN split folder itself
# Markers too common to suggest a layout on their own (any folder has subfolders).
GENERIC = ('*/',)
# Your own data, tried after the published layouts: format -> (what it needs, test).
OWN = {
    'h5_pair': ('a plain h5 pair needs *train*.h5 and *test*.h5 (and no *_files.txt)',
                lambda has, path: has('*train*.h5') and has('*test*.h5')
                and not has('*_files.txt')),
    'class_folders': ('class folders need <class>/ folders of .ply, .npy, .txt or .xyz files',
                      lambda has, path: folders.has_point_files(path)),
}


def _found(path: str) -> str:
  """What a folder holds, briefly: 'found 2 folders (a/, b/) and 1 file (x.las)'."""
  entries = sorted(e for e in os.listdir(path) if not e.startswith('.'))
  dirs = [f'{e}/' for e in entries if os.path.isdir(os.path.join(path, e))]
  files = [e for e in entries if not os.path.isdir(os.path.join(path, e))]

  def some(items, noun):
    more = ', ...' if len(items) > 4 else ''
    return (f'{len(items)} {noun}{"s" if len(items) != 1 else ""}'
            + (f' ({", ".join(items[:4])}{more})' if items else ''))
  return f'found {some(dirs, "folder")} and {some(files, "file")}'


def detect_format(path: str) -> str:
  """The READERS format whose layout the file or folder `path` has: a published
  layout (`LAYOUTS`), else one of your own data (`OWN`).

  Raises:
    DataError: `path` is missing, or is a file other than .npz, or holds no complete
      layout: the message names the layouts whose marker files are partly present with
      the files they lack, else what each layout needs and what the folder holds.
  """
  def has(pattern):
    return bool(glob.glob(os.path.join(glob.escape(path), pattern)))
  if not os.path.exists(path):
    raise DataError(f'{path}: no such file or folder; download the dataset (see docs/data.md) and '
                    f'point data.path at it.')
  if os.path.isfile(path):
    if path.endswith('.npz'):
      return 'npz'
    raise DataError(f'{path}: a file, and only .npz data is a single file; point data.path at '
                    f'the dataset folder, or set data.format to one of {sorted(READERS)}.')
  for fmt, (_, markers) in LAYOUTS.items():
    if all(has(m) for m in markers) or (fmt == 'scanobjectnn_h5' and has(SCAN_SPLIT_FOLDER)):
      return fmt
  for fmt, (_, test) in OWN.items():
    if test(has, path):
      return fmt
  partial = [(name, [m for m in markers if not has(m)]) for name, markers in LAYOUTS.values()
             if any(has(m) for m in markers if m not in GENERIC)]
  if partial:
    lacks = ', or '.join(f'{name} without {" and ".join(missing)}' for name, missing in partial)
    raise DataError(f'{path}: an incomplete dataset: {lacks}; restore the missing file '
                    f'(re-download, see docs/data.md) or set data.format to the layout.')
  needs = '; '.join([f'{name} needs {" and ".join(markers)}'
                     for name, markers in LAYOUTS.values()] + [n for n, _ in OWN.values()])
  raise DataError(f'{path}: no known dataset layout ({needs}, or a split folder of '
                  f'{SCAN_SPLIT_FOLDER}); {_found(path)}; point data.path at the dataset '
                  f'folder, or arrange your data as docs/data.md#your-own-data shows.')


def read(data_config, min_points: int | None = None) -> PointCloudDataset:
  """Reads and validates the raw dataset named by the config (no preprocessing): every
  cloud must hold `min_points` points (default data.num_points).

  Raises:
    ConfigError: an unknown data.format, an empty data.path for a file format, a
      data.path with the procedural shapes (which read no file), data.variant for a
      format other than ScanObjectNN, MVPNet in the rotated setting.
    DataError: the files (see `detect_format` and each reader).
  """
  fmt = data_config.format
  if fmt not in READERS and fmt != 'auto':
    raise ConfigError(f"data.format {fmt!r} is unknown; use 'auto' or one of {sorted(READERS)}.")
  if fmt == 'shapes':
    if data_config.path:
      raise ConfigError(f"data.path is {data_config.path!r}, but data.format='shapes' generates "
                        "its clouds and reads no file; clear data.path (--config.data.path='') or "
                        "set data.format to the dataset's format (or 'auto').")
  else:
    if not data_config.path:
      what = 'your data (its folder or .npz file)' if fmt == 'auto' else f'the {fmt} data'
      raise ConfigError(f'data.path is empty; set --config.data.path to {what}.')
    if not os.path.exists(data_config.path):
      raise DataError(f'{data_config.path}: no such file or folder; download the dataset '
                      f'(see docs/data.md) and set --config.data.path to it.')
  if fmt == 'auto':
    fmt = detect_format(data_config.path)
  if data_config.variant and fmt != 'scanobjectnn_h5':
    raise ConfigError(f'data.variant {data_config.variant!r} only applies to ScanObjectNN, and '
                      f'{data_config.path or "the data"} is {fmt}; set data.variant=\'\'.')
  if fmt == 'mvpnet' and data_config.rotated:
    raise ConfigError('MVPNet is never rotated (its objects are captured from 180-degree '
                      'views); set data.rotated=False.')
  try:
    dataset = READERS[fmt](data_config)
  except DataError as e:
    other = _other_layout(data_config.path, data_config.format)
    if other:
      raise DataError(f'{data_config.path}: not read as data.format={fmt!r} ({e}), but it has '
                      f'the {other} layout; set data.format=auto (or {other!r}).') from None
    raise
  if data_config.name:
    dataset = dataclasses.replace(dataset, name=data_config.name)
  return validate(dataset, min_points=min_points or data_config.num_points)


def _other_layout(path: str, fmt: str) -> str | None:
  """The format `detect_format` finds at `path` where `fmt` was chosen by hand and is
  another; else None."""
  if fmt == 'auto':
    return None
  try:
    found = detect_format(path)
  except DataError:
    return None
  return found if found != fmt else None


def planned_clouds(data_config) -> int | None:
  """How many clouds `load` will hold, where the config alone says (the procedural
  shapes: classes x (train + test) per class); None for files."""
  if data_config.format != 'shapes':
    return None
  per_class = data_config.shapes.num_train_per_class + data_config.shapes.num_test_per_class
  return len(shapes.FAMILIES[data_config.shapes.family]) * per_class


def load(data_config) -> PointCloudDataset:
  """Reads, validates and prepares the dataset named by the config."""
  return preprocess.prepare(read(data_config), data_config.num_points, data_config.rotated,
                            data_config.seed, data_config.scale)


__all__ = ['PointCloudDataset', 'Split', 'LAYOUTS', 'READERS', 'detect_format', 'load',
           'planned_clouds', 'read', 'validate']
