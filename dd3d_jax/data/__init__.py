"""Datasets: readers per published layout, the procedural default, preprocessing.

`load(data_config)` reads the dataset named by `data_config.format` from
`data_config.path`, validates it and prepares it (resolution, unit sphere, rotated
setting). Every reader returns a `PointCloudDataset`; `format = 'auto'` picks the
reader from the files at the path (`detect_format`).
"""

from __future__ import annotations

import glob
import os

from dd3d_jax.data import (modelnet, mvpnet, npz, preprocess, scanobjectnn, shapenetpart,
                           shapes)
from dd3d_jax.data.dataset import PointCloudDataset, Split, validate
from dd3d_jax.errors import ConfigError, DataError

READERS = {
    'shapes': lambda cfg: shapes.make_shapes(
        cfg.shapes.num_train_per_class, cfg.shapes.num_test_per_class, cfg.num_points, cfg.seed,
        cfg.shapes.max_crop),
    'npz': lambda cfg: npz.read_npz(cfg.path),
    'modelnet40_h5': lambda cfg: modelnet.read_modelnet40_h5(cfg.path, cfg.num_points),
    'scanobjectnn_h5': lambda cfg: scanobjectnn.read_scanobjectnn_h5(
        cfg.path, cfg.variant or 'obj_bg', cfg.num_points),
    'shapenetpart_h5': lambda cfg: shapenetpart.read_shapenetpart_h5(cfg.path, cfg.num_points),
    'shapenetpart_txt': lambda cfg: shapenetpart.read_shapenetpart_txt(
        cfg.path, cfg.num_points, cfg.seed, cfg.allow_resample),
    'mvpnet': lambda cfg: mvpnet.read_mvpnet(cfg.path, cfg.num_points, cfg.seed,
                                             cfg.allow_resample),
}


# format -> (name, the files that mark its layout: all must be present). The first
# complete match wins, in this order; see each reader's module docstring for the rest.
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


def detect_format(path: str) -> str:
  """The READERS format whose published layout the file or folder `path` has.

  Raises:
    DataError: `path` is missing, or is a file other than .npz, or holds no complete
      layout: the message names the layouts whose marker files are partly present with
      the files they lack (else what each layout needs).
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
  partial = [(name, [m for m in markers if not has(m)]) for name, markers in LAYOUTS.values()
             if any(has(m) for m in markers if m not in GENERIC)]
  if partial:
    lacks = ', or '.join(f'{name} without {" and ".join(missing)}' for name, missing in partial)
    raise DataError(f'{path}: an incomplete dataset: {lacks}; restore the missing file '
                    f'(re-download, see docs/data.md) or set data.format to the layout.')
  needs = '; '.join(f'{name} needs {" and ".join(markers)}' for name, markers in LAYOUTS.values())
  raise DataError(f'{path}: no known dataset layout ({needs}, or a split folder of '
                  f'{SCAN_SPLIT_FOLDER}); point data.path at the dataset folder or set '
                  f'data.format to one of {sorted(READERS)}.')


def read(data_config) -> PointCloudDataset:
  """Reads and validates the raw dataset named by the config (no preprocessing).

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
      raise ConfigError(f'data.path is empty; set --config.data.path=/path/to/{fmt} data.')
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
  return validate(READERS[fmt](data_config), min_points=data_config.num_points)


def planned_clouds(data_config) -> int | None:
  """How many clouds `load` will hold, where the config alone says (the procedural
  shapes: classes x (train + test) per class); None for files."""
  if data_config.format != 'shapes':
    return None
  per_class = data_config.shapes.num_train_per_class + data_config.shapes.num_test_per_class
  return len(shapes.CLASS_NAMES) * per_class


def load(data_config) -> PointCloudDataset:
  """Reads, validates and prepares the dataset named by the config."""
  return preprocess.prepare(read(data_config), data_config.num_points, data_config.rotated,
                            data_config.seed)


__all__ = ['PointCloudDataset', 'Split', 'LAYOUTS', 'READERS', 'detect_format', 'load',
           'planned_clouds', 'read', 'validate']
