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


def detect_format(path: str) -> str:
  """The READERS format whose published layout the file or folder `path` has."""
  def has(*patterns):
    return all(glob.glob(os.path.join(glob.escape(path), p)) for p in patterns)
  if not os.path.exists(path):
    raise DataError(f'{path}: no such file or folder; download the dataset (see docs/data.md) and '
                    f'point data.path at it.')
  if (os.path.isfile(path) and path.endswith('.npz')) or has('train.npz'):
    return 'npz'
  if has('shape_names.txt', '*_files.txt'):
    return 'modelnet40_h5'
  if has('all_object_categories.txt', 'ply_data_*.h5'):
    return 'shapenetpart_h5'
  if has('synsetoffset2category.txt'):
    return 'shapenetpart_txt'
  if has('main_split*/') or has('*objectdataset*.h5'):
    return 'scanobjectnn_h5'
  if has('train_list.txt', '*/'):
    return 'mvpnet'
  raise DataError(f'{path}: no known dataset layout (ModelNet40 h5, ScanObjectNN h5, '
                  f'ShapeNet-part h5 or txt, MVPNet, npz); point data.path at the dataset folder '
                  f'or set data.format to one of {sorted(READERS)}.')


def read(data_config) -> PointCloudDataset:
  """Reads and validates the raw dataset named by the config (no preprocessing)."""
  fmt = data_config.format
  if fmt not in READERS and fmt != 'auto':
    raise ConfigError(f"data.format {fmt!r} is unknown; use 'auto' or one of {sorted(READERS)}.")
  if fmt != 'shapes':
    if not data_config.path:
      raise ConfigError(f'data.path is empty; set --config.data.path=/path/to/{fmt} data.')
    if not os.path.exists(data_config.path):
      raise DataError(f'{data_config.path}: no such file or folder; download the dataset '
                      f'(see docs/data.md) and set --config.data.path to it.')
  if fmt == 'auto':
    fmt = detect_format(data_config.path)
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


__all__ = ['PointCloudDataset', 'Split', 'READERS', 'detect_format', 'load', 'planned_clouds',
           'read', 'validate']
