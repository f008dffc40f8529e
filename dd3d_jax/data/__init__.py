"""Datasets: readers per published layout, the procedural default, preprocessing.

`load(data_config)` reads the dataset named by `data_config.format` from
`data_config.path`, validates it and prepares it (resolution, unit sphere, rotated
setting). Every reader returns a `PointCloudDataset`.
"""

from __future__ import annotations

import os

from dd3d_jax.data import npz, preprocess, shapes
from dd3d_jax.data.dataset import PointCloudDataset, Split, validate
from dd3d_jax.errors import ConfigError, DataError

READERS = {
    'shapes': lambda cfg: shapes.make_shapes(
        cfg.shapes.num_train_per_class, cfg.shapes.num_test_per_class, cfg.num_points, cfg.seed),
    'npz': lambda cfg: npz.read_npz(cfg.path),
}


def read(data_config) -> PointCloudDataset:
  """Reads and validates the raw dataset named by the config (no preprocessing)."""
  fmt = data_config.format
  if fmt not in READERS:
    raise ConfigError(f'data.format {fmt!r} is unknown; use one of {sorted(READERS)}.')
  if fmt != 'shapes':
    if not data_config.path:
      raise ConfigError(f'data.path is empty; set --config.data.path=/path/to/{fmt} data.')
    if not os.path.exists(data_config.path):
      raise DataError(f'{data_config.path}: no such file or folder; download the dataset '
                      f'(see README) and set --config.data.path to it.')
  return validate(READERS[fmt](data_config), min_points=data_config.num_points)


def load(data_config) -> PointCloudDataset:
  """Reads, validates and prepares the dataset named by the config."""
  return preprocess.prepare(read(data_config), data_config.num_points, data_config.rotated,
                            data_config.seed)


__all__ = ['PointCloudDataset', 'Split', 'READERS', 'load', 'read', 'validate']
