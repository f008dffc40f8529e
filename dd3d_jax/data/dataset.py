"""The one dataset type every reader returns, and its validation."""

from __future__ import annotations

import dataclasses

import numpy as np

from dd3d_jax.errors import DataError


@dataclasses.dataclass(frozen=True)
class Split:
  """One split of a labelled point-cloud dataset (host NumPy arrays).

  Attributes:
    points: [N, P, 3] float32.
    labels: [N] int32 class ids in [0, num_classes).
    parts: optional [N, P] int32 part ids (part segmentation), else None.
  """
  points: np.ndarray
  labels: np.ndarray
  parts: np.ndarray | None = None

  def __len__(self) -> int:
    return len(self.labels)


@dataclasses.dataclass(frozen=True)
class PointCloudDataset:
  """A labelled point-cloud dataset: class names and named splits.

  Attributes:
    name: short name for logs and outputs (e.g. 'modelnet40').
    class_names: one name per class id.
    splits: 'train' and 'test' (and optionally 'val') -> Split.
    source: where it was read from (a path or 'procedural'), for messages.
    num_parts: number of part classes when splits carry part labels, else 0.
  """
  name: str
  class_names: tuple[str, ...]
  splits: dict[str, Split]
  source: str = ''
  num_parts: int = 0

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  @property
  def train(self) -> Split:
    return self.splits['train']

  @property
  def test(self) -> Split:
    return self.splits['test']


def validate(dataset: PointCloudDataset, min_points: int = 1) -> PointCloudDataset:
  """Checks shapes, dtypes, finiteness and label ranges; returns the dataset.

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
    bad = ~np.isfinite(pts).all(axis=(1, 2))
    if bad.any():
      raise DataError(f'{where}: {name} cloud {int(np.argmax(bad))} has NaN/inf coordinates '
                      f'({int(bad.sum())} such clouds); drop or repair those clouds.')
    if lab.min() < 0 or lab.max() >= k:
      raise DataError(f'{where}: {name} label {int(lab.max() if lab.max() >= k else lab.min())} '
                      f'is outside the {k} classes; labels must be 0..{k - 1}, one per class name.')
    if split.parts is not None and split.parts.shape != pts.shape[:2]:
      raise DataError(f'{where}: {name} part labels have shape {split.parts.shape}, expected '
                      f'{pts.shape[:2]}, one part id per point; save parts as [N, P] integers.')
  counts = np.bincount(dataset.train.labels, minlength=k)
  if (counts == 0).any():
    empty = [dataset.class_names[i] for i in np.flatnonzero(counts == 0)]
    raise DataError(f'{where}: class {empty[0]!r} has no training clouds '
                    f'({len(empty)} empty classes); drop it from the class list.')
  return dataset
