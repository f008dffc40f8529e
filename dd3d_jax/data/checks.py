"""Per-file checks and helpers shared by the readers.

Every failure is a one-line `DataError` that names the file, the problem and the fix,
so a reader checks each file as it reads it (the dataset-level `validate` can only
name the source folder).
"""

from __future__ import annotations

import os
import re
import warnings
from typing import Iterable

import h5py
import numpy as np

from dd3d_jax.data.dataset import coordinate_problem, real_numbers
from dd3d_jax.errors import DataError

REDOWNLOAD = 're-download the dataset (see docs/data.md)'
# The flag that pads short clouds; `main` and `data.inspect` both take it.
RESAMPLE = ('add --config.data.allow_resample=True to pad short clouds with their own points '
            '(main and inspect both take it)')


def detail(error: BaseException, limit: int = 160) -> str:
  """A library's exception as a short clause for our one-line messages: one line, its
  first clause only (dropping advice such as numpy's `usecols` or `allow_pickle` hints
  that does not apply here), at most `limit` characters."""
  text = ' '.join(str(error).split()).split('; ')[0]
  return text if len(text) <= limit else text[:limit - 3] + '...'


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


def read_text(path: str, fix: str = REDOWNLOAD) -> str:
  """The content of a UTF-8 text file; anything else (other encodings, binary data,
  an unreadable file) is a DataError naming the file and `fix`."""
  require_file(path)
  try:
    with open(path, encoding='utf-8') as f:
      return f.read()
  except UnicodeDecodeError as e:
    raise DataError(f'{path}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset '
                    f'{e.start}); {fix} or save it as UTF-8.') from None
  except OSError as e:
    raise DataError(f'{path}: cannot be read ({e.strerror or e}); fix its permissions or '
                    f'{fix}.') from None


def read_lines(path: str) -> list[str]:
  """The non-empty, stripped lines of a UTF-8 text file."""
  return [line.strip() for line in read_text(path).splitlines() if line.strip()]


def load_table(path: str, fix: str, usecols: tuple[int, ...] | None = None) -> np.ndarray:
  """A UTF-8 text table of numbers (one row a line): [rows >= 1, columns] float64.

  An empty file, a non-numeric value or ragged rows is a DataError naming the file and
  `fix`; reading never warns (numpy's warning for an empty input cannot arise).
  """
  lines = [line for line in read_text(path, fix).splitlines() if line.strip()]
  if not lines:
    raise DataError(f'{path}: empty file (no rows of numbers); {fix}.')
  try:
    with warnings.catch_warnings():  # lines of comments only: "input contained no data"
      warnings.simplefilter('ignore', UserWarning)
      table = np.loadtxt(lines, dtype=np.float64, ndmin=2, usecols=usecols)
  except (ValueError, IndexError) as e:
    raise DataError(f'{path}: not a table of numbers ({detail(e)}); '
                    f'{fix}.') from None
  if not table.size:
    raise DataError(f'{path}: no rows of numbers (only comments); {fix}.')
  return table


def read_class_names(path: str) -> tuple[str, ...]:
  """The lines of a class-name file (line i = class i); it must not be empty."""
  names = tuple(read_lines(path))
  if not names:
    raise DataError(f'{path}: no class names; {REDOWNLOAD}.')
  return names


# Without class names, a label this large is a mistake rather than a class count.
MAX_CLASSES = 2 ** 16


def numbered_class_names(where: str, labels: Iterable[np.ndarray]) -> tuple[str, ...]:
  """`class_0`, `class_1`, ... up to the largest label, for data without class names.

  Labels that are not whole numbers count as 0 here (the readers refuse them later,
  naming their file); one of MAX_CLASSES or more is refused.
  """
  top = max((int(l.max(initial=0)) if l.dtype.kind in 'iu' or l.dtype.kind == 'f'
             and np.isfinite(l).all() else 0 for l in labels), default=0)
  if top >= MAX_CLASSES:
    raise DataError(f'{where}: label {top} would make {top + 1} classes; number the classes '
                    '0, 1, 2, ... (or give their names).')
  return tuple(f'class_{i}' for i in range(top + 1))


def data_name(path: str) -> str:
  """What the logs and tables call your own data by default: the file or folder's name
  without its extension, in the letters `data.name` takes ('my data.npz' ->
  'my_data')."""
  stem = os.path.splitext(os.path.basename(os.path.normpath(path)))[0]
  return re.sub(r'[^\w.-]', '_', stem)[:64] or 'data'


def read_h5(path: str, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
  """Reads the arrays `keys` of an HDF5 file (other keys are ignored).

  Each key must be a dataset (not a group); a damaged file, a broken link or a dtype
  h5py cannot read is a DataError naming the file.
  """
  require_file(path)
  try:
    with h5py.File(path, 'r') as f:
      missing = [k for k in keys if k not in f]
      if missing:
        raise DataError(f'{path}: missing key {missing[0]!r} (the file has {sorted(f.keys())}); '
                        f'{REDOWNLOAD}.')
      for k in keys:
        if not isinstance(f[k], h5py.Dataset):
          raise DataError(f'{path}: {k!r} is a {type(f[k]).__name__.lower()}, not an array '
                          f'(dataset); {REDOWNLOAD}.')
      return {k: np.asarray(f[k][()]) for k in keys}
  except (OSError, KeyError, RuntimeError, TypeError, ValueError) as e:
    raise DataError(f'{path}: unreadable or truncated HDF5 file '
                    f'({detail(e)}); {REDOWNLOAD}.') from None


def h5_keys(path: str) -> list[str]:
  """The top-level names of an HDF5 file (sorted); a damaged file is a DataError."""
  require_file(path)
  try:
    with h5py.File(path, 'r') as f:
      return sorted(f.keys())
  except (OSError, KeyError, RuntimeError, TypeError, ValueError) as e:
    raise DataError(f'{path}: unreadable or truncated HDF5 file ({detail(e)}); re-write it '
                    'with h5py (see docs/data.md).') from None


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
    parts: optional [n, P] whole-number part ids in [0, num_parts) (num_parts 0: >= 0).
  Returns:
    (points [n, P, 3] float32, labels [n] int32, parts [n, P] int32 or None).
  """
  if points.ndim != 3 or points.shape[-1] != 3 or not real_numbers(points.dtype):
    raise DataError(f'{path}: data has shape {points.shape} and dtype {points.dtype}, expected '
                    f'(n, P, 3) real numbers; {REDOWNLOAD}.')
  labels = labels.reshape(-1) if labels.ndim == 2 else labels
  if labels.shape != points.shape[:1]:
    raise DataError(f'{path}: label has shape {labels.shape} for {len(points)} clouds, expected '
                    f'({len(points)},) or ({len(points)}, 1); {REDOWNLOAD}.')
  labels = whole_ids(path, 'label', labels, num_classes, 'classes of the class list',
                     'fix the labels or the class list')
  if points.shape[1] < min_points:
    raise DataError(f'{path}: clouds have {points.shape[1]} points, fewer than the {min_points} '
                    f'requested; lower data.num_points to {points.shape[1]} or less.')
  problem = coordinate_problem(points, f'{REDOWNLOAD} or drop those clouds.')
  if problem:
    raise DataError(f'{path}: {problem}')
  if parts is not None:
    if parts.shape != points.shape[:2]:
      raise DataError(f'{path}: part ids have shape {parts.shape}, expected {points.shape[:2]} '
                      f'to match the points; {REDOWNLOAD}.')
    parts = whole_ids(path, 'part id', parts, num_parts or None, 'part classes', REDOWNLOAD)
  return points.astype(np.float32), labels, parts


def whole_ids(path: str, what: str, values: np.ndarray, count: int | None, noun: str,
              fix: str) -> np.ndarray:
  """int32 ids in [0, count) (count None: [0, 2**31)) from an integer or whole-valued
  float array, checked before the cast so that no value wraps around."""
  kind = values.dtype.kind
  if not real_numbers(values.dtype) or (kind == 'f' and not (
      np.isfinite(values).all() and np.array_equal(values, np.round(values)))):
    raise DataError(f'{path}: {what}s are not whole numbers (dtype {values.dtype}); {fix}.')
  limit = 2**31 - 1 if count is None else count
  wide = values.astype(np.float64) if kind == 'f' else values  # float16 cannot hold limit
  outside = (wide < 0) | (wide >= limit)
  if outside.any():
    value = values.reshape(-1)[np.argmax(outside.reshape(-1))]
    if count is None:
      raise DataError(f'{path}: {what} {int(value)} is outside 0..{limit - 1}; {fix}.')
    raise DataError(f'{path}: {what} {int(value)} is outside the {count} {noun}; {fix}.')
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
                    + (f' (or {RESAMPLE}).' if have else '.'))
  fill = rng.integers(0, have, num_points - have)
  return cloud[np.concatenate([rng.permutation(have), fill])]


def stack_clouds(clouds: Iterable[tuple[str, np.ndarray]], num_points: int, seed: int,
                 split_id: int, allow_resample: bool) -> tuple[np.ndarray, np.ndarray]:
  """Clouds of any sizes as one stack, each checked as it comes.

  Args:
    clouds: (name for messages, [P_i, 3] real coordinates) pairs, read lazily.
    seed, split_id: with a cloud's position, seed the points it keeps (`take_points`),
      so every run keeps the same points.
  Returns:
    (points [N, num_points, 3] float32, raw sizes [N] int64: each P_i). Each cloud is
    centred on its mean in float64 before the float32 cast, so that coordinates far
    from the origin (UTM metres of aerial LiDAR, ~1e6) keep their precision; the
    pipeline centres every cloud anyway.
  Raises:
    DataError: no clouds, bad coordinates (`check_clouds`), or a cloud shorter than
      `num_points` without `allow_resample`, naming that cloud.
  """
  points, sizes = [], []
  for position, (name, cloud) in enumerate(clouds):
    check_clouds(name, cloud[None], np.zeros(1, np.int32), 1)
    rng = np.random.default_rng([seed, split_id, position])
    kept = take_points(name, cloud, num_points, rng, allow_resample).astype(np.float64)
    points.append((kept - cloud.mean(axis=0, dtype=np.float64)).astype(np.float32))
    sizes.append(len(cloud))
  if not points:
    return np.zeros((0, num_points, 3), np.float32), np.zeros(0, np.int64)
  return np.stack(points), np.array(sizes, np.int64)
