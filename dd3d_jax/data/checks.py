"""Per-file checks and helpers shared by the readers.

Every failure is a one-line `DataError` that names the file, the problem and the fix,
so a reader checks each file as it reads it (the dataset-level `validate` can only
name the source folder).
"""

from __future__ import annotations

import os

import h5py
import numpy as np

from dd3d_jax.errors import DataError

REDOWNLOAD = 're-download the dataset (see docs/data.md)'


def require_dir(path: str) -> str:
  """Returns `path` if it is a folder, else raises naming it."""
  if not os.path.isdir(path):
    raise DataError(f'{path}: no such folder; {REDOWNLOAD} and point data.path at it.')
  return path


def require_file(path: str) -> str:
  """Returns `path` if it is a file, else raises naming it."""
  if not os.path.isfile(path):
    raise DataError(f'{path}: no such file; {REDOWNLOAD} or point data.path at the right folder.')
  return path


def read_lines(path: str) -> list[str]:
  """The non-empty, stripped lines of a text file."""
  with open(require_file(path)) as f:
    return [line.strip() for line in f if line.strip()]


def read_class_names(path: str) -> tuple[str, ...]:
  """The lines of a class-name file (line i = class i); it must not be empty."""
  names = tuple(read_lines(path))
  if not names:
    raise DataError(f'{path}: no class names; {REDOWNLOAD}.')
  return names


def read_h5(path: str, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
  """Reads the arrays `keys` of an HDF5 file (other keys are ignored)."""
  require_file(path)
  try:
    with h5py.File(path, 'r') as f:
      missing = [k for k in keys if k not in f]
      if missing:
        raise DataError(f'{path}: missing key {missing[0]!r} (the file has {sorted(f.keys())}); '
                        f'{REDOWNLOAD}.')
      return {k: f[k][()] for k in keys}
  except OSError as e:
    raise DataError(f'{path}: unreadable or truncated HDF5 file '
                    f'({" ".join(str(e).split())}); {REDOWNLOAD}.') from None


def check_clouds(path: str, points: np.ndarray, labels: np.ndarray, num_classes: int,
                 min_points: int = 1, parts: np.ndarray | None = None,
                 num_parts: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
  """Checks the clouds read from one file and casts them.

  Args:
    path: the file, for messages.
    points: [n, P, 3] numeric coordinates.
    labels: [n] or [n, 1] whole-number class ids in [0, num_classes).
    num_classes: the number of class names.
    min_points: P must be at least this (the requested data.num_points).
    parts: optional [n, P] whole-number part ids in [0, num_parts).
  Returns:
    (points [n, P, 3] float32, labels [n] int32, parts [n, P] int32 or None).
  """
  if points.ndim != 3 or points.shape[-1] != 3 or not np.issubdtype(points.dtype, np.number):
    raise DataError(f'{path}: data has shape {points.shape} and dtype {points.dtype}, expected '
                    f'(n, P, 3) numbers; {REDOWNLOAD}.')
  labels = _whole(path, 'label', labels.reshape(-1) if labels.ndim == 2 else labels)
  if labels.shape != points.shape[:1]:
    raise DataError(f'{path}: label has shape {labels.shape} for {len(points)} clouds, expected '
                    f'({len(points)},) or ({len(points)}, 1); {REDOWNLOAD}.')
  if points.shape[1] < min_points:
    raise DataError(f'{path}: clouds have {points.shape[1]} points, fewer than the {min_points} '
                    f'requested; lower data.num_points to {points.shape[1]} or less.')
  bad = ~np.isfinite(points).all(axis=(1, 2))
  if bad.any():
    raise DataError(f'{path}: cloud {int(np.argmax(bad))} has NaN/inf coordinates '
                    f'({int(bad.sum())} such clouds); {REDOWNLOAD} or drop those clouds.')
  outside = (labels < 0) | (labels >= num_classes)
  if outside.any():
    raise DataError(f'{path}: label {int(labels[np.argmax(outside)])} is outside the '
                    f'{num_classes} classes of the class list; fix the labels or the class list.')
  if parts is not None:
    parts = _whole(path, 'part id', parts)
    if parts.shape != points.shape[:2]:
      raise DataError(f'{path}: part ids have shape {parts.shape}, expected {points.shape[:2]} '
                      f'to match the points; {REDOWNLOAD}.')
    if parts.size and (parts.min() < 0 or parts.max() >= num_parts):
      value = int(parts.min() if parts.min() < 0 else parts.max())
      raise DataError(f'{path}: part id {value} is outside the {num_parts} part classes; '
                      f'{REDOWNLOAD}.')
  return points.astype(np.float32), labels.astype(np.int32), parts


def _whole(path: str, what: str, values: np.ndarray) -> np.ndarray:
  """int32 ids from integer or whole-valued float arrays."""
  if not np.issubdtype(values.dtype, np.number) or not np.array_equal(values, np.round(values)):
    raise DataError(f'{path}: {what}s are not whole numbers (dtype {values.dtype}); {REDOWNLOAD}.')
  return values.astype(np.int32)


def check_classes_present(where: str, labels: np.ndarray, class_names: tuple[str, ...]) -> None:
  """Raises naming the first class without training clouds (`where`: the split's source)."""
  counts = np.bincount(labels, minlength=len(class_names))
  if (counts == 0).any():
    empty = [class_names[i] for i in np.flatnonzero(counts == 0)]
    raise DataError(f'{where}: class {empty[0]!r} has no training clouds ({len(empty)} empty '
                    f'classes); drop it from the class list or add its files.')


def take_points(path: str, cloud: np.ndarray, num_points: int, rng: np.random.Generator,
                allow_resample: bool = False) -> np.ndarray:
  """Picks `num_points` random points of one cloud [P, C] -> [num_points, C].

  Without replacement when P >= num_points. A smaller cloud is an error naming the
  file unless `allow_resample`: then all its points are kept (shuffled) and the rest is
  filled with its own points drawn with replacement.
  """
  have = len(cloud)
  if have >= num_points:
    return cloud[rng.permutation(have)[:num_points]]
  if not allow_resample or have == 0:
    raise DataError(f'{path}: the cloud has {have} points, fewer than the {num_points} '
                    f'requested; lower data.num_points to {have} or less'
                    + (' (or set data.allow_resample=True).' if have else '.'))
  fill = rng.integers(0, have, num_points - have)
  return cloud[np.concatenate([rng.permutation(have), fill])]
