"""The one dataset type every reader returns, and its validation."""

from __future__ import annotations

import dataclasses

import numpy as np

from dd3d_jax.errors import DataError

# The unit-sphere normalisation runs in float32 and squares coordinates: beyond this
# magnitude it overflows (a cloud would become all zeros or NaN).
MAX_COORD = 1e18
# It divides by (radius + 1e-4): a cloud whose points all lie within this distance of
# their centre would shrink below half the unit sphere, towards a point.
MIN_EXTENT = 1e-4
_CHUNK = 1024  # clouds per step of the coordinate checks, to bound their memory


@dataclasses.dataclass(frozen=True)
class Split:
  """One split of a labelled point-cloud dataset (host NumPy arrays).

  Attributes:
    points: [N, P, 3] float32.
    labels: [N] int32 class ids in [0, num_classes).
    parts: optional [N, P] int32 part ids (part segmentation), else None.
    sizes: optional [N] int64: the points each cloud had in its file, where the reader
      kept P of them (clouds of different sizes); None: every cloud had P.
  """
  points: np.ndarray
  labels: np.ndarray
  parts: np.ndarray | None = None
  sizes: np.ndarray | None = None

  def __len__(self) -> int:
    return len(self.labels)

  def raw_sizes(self) -> np.ndarray:
    """[N] int64: the points of each cloud as its file held them."""
    if self.sizes is not None:
      return self.sizes
    return np.full(len(self.labels), self.points.shape[1], np.int64)


@dataclasses.dataclass(frozen=True)
class PointCloudDataset:
  """A labelled point-cloud dataset: class names and named splits.

  Attributes:
    name: short name for logs and outputs (e.g. 'modelnet40').
    class_names: one name per class id.
    splits: 'train' and 'test' (and optionally 'val') -> Split.
    source: where it was read from (a path or 'procedural'), for messages.
    num_parts: number of part classes when splits carry part labels, else 0.
    scale: the data's units per unit of the prepared clouds where every cloud was
      scaled by this one factor (`data.scale='dataset'`); None when each cloud has its
      own (the unit sphere) or before preparation.
  """
  name: str
  class_names: tuple[str, ...]
  splits: dict[str, Split]
  source: str = ''
  num_parts: int = 0
  scale: float | None = None

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  @property
  def train(self) -> Split:
    return self.splits['train']

  @property
  def test(self) -> Split:
    return self.splits['test']


def holdout(labels: np.ndarray, num_classes: int, test_fraction: float, seed: int
            ) -> np.ndarray:
  """A seeded, stratified test split of data that comes without one.

  Args:
    labels: [N] class ids, in the data's own order (e.g. files sorted by name).
    test_fraction: the share of each class that goes to the test split.
  Returns:
    [N] bool, True for a test cloud: round(test_fraction * n_c) of each class's n_c
    clouds, at least one where n_c >= 2 and never all of them (a class of one cloud
    trains only), drawn by a generator seeded with (seed, class id): the same split on
    every run and machine.
  """
  test = np.zeros(len(labels), bool)
  for c in range(num_classes):
    members = np.flatnonzero(labels == c)
    n = len(members)
    take = min(max(int(round(test_fraction * n)), 1 if n >= 2 else 0), n - 1)
    rng = np.random.default_rng([seed, c])
    test[members[rng.permutation(n)[:take]]] = True
  return test


def real_numbers(dtype: np.dtype) -> bool:
  """Whether arrays of `dtype` hold real numbers (ints or floats; not bool, complex, str)."""
  return dtype.kind in 'iuf'


def coordinate_problem(points: np.ndarray, fix_nonfinite: str) -> str | None:
  """The first problem of the coordinates of some clouds, or None.

  Args:
    points: [N, P, 3] real numbers of any dtype (checked before the float32 cast, so
      values beyond float32's range are named rather than turned into inf).
    fix_nonfinite: what the message tells the user to do about NaN/inf coordinates.
  Returns:
    None when every cloud is finite, within +-MAX_COORD and spans at least MIN_EXTENT
    once cast to float32 (what the pipeline normalises); else the problem and its fix,
    naming the first bad cloud by index (no source prefix, for the caller to add).
  """
  if points.shape[1] == 0 and len(points):
    return 'clouds of 0 points; give every cloud its points (an [N, P, 3] array with P >= 2).'
  if points.shape[1] == 1 and len(points):
    return ('clouds of 1 point have no shape (each normalises to the origin); use clouds of '
            'several points (for the procedural shapes, data.num_points >= 2).')
  bad = ~np.isfinite(points).all(axis=(1, 2))
  if bad.any():
    return (f'cloud {int(np.argmax(bad))} has NaN/inf coordinates ({int(bad.sum())} such '
            f'clouds); {fix_nonfinite}')
  for start in range(0, len(points), _CHUNK):
    chunk = points[start:start + _CHUNK]
    size = np.abs(chunk).max(axis=(1, 2), initial=0).astype(np.float64)
    if (size > MAX_COORD).any():
      i = int(np.argmax(size > MAX_COORD))
      return (f'cloud {start + i} has a coordinate of {size[i]:.3g}, beyond +-{MAX_COORD:.0e}, '
              'where the unit-sphere normalisation (in float32) overflows; rescale the clouds '
              '(divide every coordinate by one constant).')
    # The float32 values the pipeline normalises, centred exactly (a float32 mean can be
    # off by more than a far-away cloud's extent).
    cast = chunk.astype(np.float32, copy=False).astype(np.float64)
    centred = cast - cast.mean(axis=1, keepdims=True)
    radius = np.sqrt(np.einsum('npc,npc->np', centred, centred).max(axis=1, initial=0))
    if (radius < MIN_EXTENT).any():
      i = int(np.argmax(radius < MIN_EXTENT))
      return (f'cloud {start + i} spans only {radius[i]:.3g} (its {chunk.shape[1]} points lie '
              f'within that distance of their centre, in float32), which the unit-sphere '
              f'normalisation shrinks to a point; drop that cloud, or scale the clouds up '
              f'(multiply by one constant) so that each spans at least {MIN_EXTENT:g}.')
  return None


def validate(dataset: PointCloudDataset, min_points: int = 1) -> PointCloudDataset:
  """Checks shapes, dtypes, coordinates and id ranges; returns the dataset.

  Every split must hold [N >= 1, P >= min_points, 3] float32 points whose clouds pass
  `coordinate_problem`, [N] int32 labels in [0, num_classes) and, if any, [N, P] int32
  part ids >= 0 (and < num_parts when it is set); every class needs a training cloud.

  Raises:
    DataError: one line naming the dataset source, the split and the problem.
  """
  where = dataset.source or dataset.name
  k = dataset.num_classes
  if k == 0:
    raise DataError(f'{where}: no class names; give the dataset its class_names list.')
  for required in ('train', 'test'):
    if required not in dataset.splits:
      raise DataError(f'{where}: no {required!r} split; provide both a train and a test split.')
  for name, split in dataset.splits.items():
    pts, lab = split.points, split.labels
    for what, array, dtype in (('points', pts, np.float32), ('labels', lab, np.int32),
                               ('part labels', split.parts, np.int32)):
      if array is not None and array.dtype != dtype:
        raise DataError(f'{where}: {name} {what} have dtype {array.dtype}, expected '
                        f'{np.dtype(dtype)}; cast them to {np.dtype(dtype)}.')
    if pts.ndim != 3 or pts.shape[-1] != 3:
      raise DataError(f'{where}: {name} points have shape {pts.shape}, expected (N, P, 3); '
                      'save the clouds as one [N, P, 3] array.')
    if lab.shape != (pts.shape[0],):
      raise DataError(f'{where}: {name} labels have shape {lab.shape}, expected '
                      f'({pts.shape[0]},) to match the points; give one label per cloud.')
    if len(lab) == 0:
      raise DataError(f'{where}: the {name} split is empty; give it at least one cloud (check the '
                      'file lists or the arrays of that split).')
    if pts.shape[1] < min_points:
      raise DataError(f'{where}: {name} clouds have {pts.shape[1]} points, fewer than the '
                      f'{min_points} asked for; lower data.num_points to {pts.shape[1]} or less.')
    problem = coordinate_problem(pts, 'drop or repair those clouds.')
    if problem:
      raise DataError(f'{where}: {name} {problem}')
    if lab.min() < 0 or lab.max() >= k:
      raise DataError(f'{where}: {name} label {int(lab.max() if lab.max() >= k else lab.min())} '
                      f'is outside the {k} classes; labels must be 0..{k - 1}, one per class name.')
    if split.parts is not None and split.parts.shape != pts.shape[:2]:
      raise DataError(f'{where}: {name} part labels have shape {split.parts.shape}, expected '
                      f'{pts.shape[:2]}, one part id per point; save parts as [N, P] integers.')
    if split.parts is not None and split.parts.size and (
        split.parts.min() < 0 or (dataset.num_parts and split.parts.max() >= dataset.num_parts)):
      value = int(split.parts.min() if split.parts.min() < 0 else split.parts.max())
      limit = f'0..{dataset.num_parts - 1}' if dataset.num_parts else '0 or more'
      raise DataError(f'{where}: {name} part id {value} is outside {limit}; number the parts '
                      f'0, 1, 2, ... (one range of ids per class).')
  counts = np.bincount(dataset.train.labels, minlength=k)
  if (counts == 0).any():
    empty = [dataset.class_names[i] for i in np.flatnonzero(counts == 0)]
    raise DataError(f'{where}: class {empty[0]!r} has no training clouds '
                    f'({len(empty)} empty classes); drop it from the class list.')
  return dataset
