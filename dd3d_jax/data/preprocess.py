"""Preparing a dataset for distillation: resolution, scale, rotated setting."""

from __future__ import annotations

import dataclasses
import zlib

import jax
import jax.numpy as jnp
import numpy as np

from dd3d_jax import geometry
from dd3d_jax.data.dataset import PointCloudDataset, Split
from dd3d_jax.errors import DataError

CHUNK = 4096  # clouds per jitted call, to bound memory on large datasets


def split_seed(seed: int, split: str) -> int:
  """A seed of its own for each split, stable across runs and Python versions."""
  return (seed * 7919 + zlib.crc32(split.encode())) % 2**31


def subsample_points(points: np.ndarray, num_points: int, seed: int,
                     parts: np.ndarray | None = None):
  """Keeps `num_points` random points of each cloud, reproducibly (same seed, same points).

  points: [N, P, 3] with P >= num_points; parts: optional [N, P].
  Returns (points [N, num_points, 3], parts [N, num_points] or None).
  """
  if points.shape[1] == num_points:
    return points, parts
  rng = np.random.default_rng(seed)
  idx = np.argsort(rng.random(points.shape[:2]), axis=1)[:, :num_points]
  points = np.take_along_axis(points, idx[..., None], axis=1)
  return points, None if parts is None else np.take_along_axis(parts, idx, axis=1)


@jax.jit
def _rotate_and_canonicalize(key: jax.Array, points: jax.Array) -> jax.Array:
  rotations = geometry.random_rotation(key, points.shape[:1])
  return geometry.pca_canonicalize(points @ rotations)[0]


def canonicalize_rotated(points: np.ndarray, seed: int) -> np.ndarray:
  """The rotated setting: a seeded uniform SO(3) rotation per cloud, then PCA axes.

  points: [N, P, 3] -> [N, P, 3] (each cloud centred and in its PCA frame).
  """
  key = jax.random.key(seed)
  out = [np.asarray(_rotate_and_canonicalize(jax.random.fold_in(key, i),
                                             jnp.asarray(points[i:i + CHUNK])))
         for i in range(0, len(points), CHUNK)]
  return np.concatenate(out).astype(np.float32)


def normalize(points: np.ndarray) -> np.ndarray:
  """Unit-sphere normalisation of every cloud (chunked). [N, P, 3] -> [N, P, 3]."""
  norm = jax.jit(geometry.normalize_to_unit_sphere)
  return np.concatenate([np.asarray(norm(jnp.asarray(points[i:i + CHUNK])))
                         for i in range(0, len(points), CHUNK)])


SCALES = ('unit_sphere', 'dataset')


def centre(points: np.ndarray) -> np.ndarray:
  """Every cloud moved to its centroid. [N, P, 3] -> [N, P, 3] float32."""
  return (points - points.mean(axis=1, keepdims=True, dtype=np.float64)).astype(np.float32)


def prepare(dataset: PointCloudDataset, num_points: int, rotated: bool, seed: int = 0,
            scale: str = 'unit_sphere') -> PointCloudDataset:
  """Subsamples to `num_points`, scales and, in the rotated setting, rotates every train
  and test cloud randomly and projects it on its PCA axes.

  `scale='unit_sphere'` centres each cloud and scales it into the unit sphere (the
  paper's rule); `'dataset'` centres each cloud and divides every cloud by one factor,
  the largest radius of a training cloud, so that sizes stay a cue (a cloud twice as
  large as another stays so) and the data's units come back by multiplying by the
  factor (`PointCloudDataset.scale`). Every step is seeded per split, so the same
  config gives the same clouds.

  Raises:
    DataError: with the unit sphere, a cloud whose kept points (nearly) coincide, so
      that it would be normalised to (almost) a point at the origin: radius < 0.5 of
      the unit sphere. (`validate` already refuses raw clouds that span less than
      MIN_EXTENT; this catches what subsampling collapses, e.g. data.num_points=1.)
  """
  if scale not in SCALES:
    raise DataError(f'data.scale {scale!r} is unknown; use one of {", ".join(SCALES)}.')
  kept = {name: subsample_points(split.points, num_points, split_seed(seed, name), split.parts)
          for name, split in dataset.splits.items()}
  factor = None
  if scale == 'dataset':
    factor = float(np.linalg.norm(centre(kept['train'][0]), axis=-1).max())
  splits = {}
  for name, split in dataset.splits.items():
    points, parts = kept[name]
    if factor is None:
      points = normalize(points)
      radius = np.linalg.norm(points, axis=-1).max(axis=1)
      if (radius < 0.5).any():
        i = int(np.argmax(radius < 0.5))
        raise DataError(f'{dataset.source or dataset.name}: {name} cloud {i} collapses to a '
                        f'point when {num_points} of its points are kept (radius '
                        f'{radius[i]:.3g} after the unit-sphere normalisation: they nearly '
                        'coincide); raise data.num_points or drop that cloud.')
    else:
      points = centre(points) / np.float32(factor)
    if rotated:
      points = canonicalize_rotated(points, split_seed(seed, name))
    splits[name] = Split(points, split.labels, parts)
  return dataclasses.replace(dataset, splits=splits, scale=factor)
