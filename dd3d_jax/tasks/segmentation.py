"""Part segmentation: the part layout, the per-point loss and the ShapeNet-part scores.

The task object (`make(dataset)`, see `dd3d_jax.tasks`): the targets are every point's
part id; the network is the reference's segmentation PointNet, told each cloud's class;
gradient matching follows `seg_inr.py` (BatchNorm statistics from real clouds, odd outer
steps matched one part at a time); a generator's points are labelled by their noise
(`synthetic_parts`).

Part ids are global (ShapeNet-part: 50 parts, class c owns ids `offsets[c]` ...
`offsets[c] + counts[c] - 1`; `PartLayout`, read from the data by `part_layout`). A prediction is restricted to the parts of the cloud's
own class (`restrict_to_class`). A cloud's IoU is the mean over its class's parts of
|pred = j and true = j| / |pred = j or true = j|, where a part absent from both
prediction and truth counts IoU 1; instance mIoU averages it over clouds, class mIoU
over the classes present (each the mean over its clouds); point accuracy is over all
points. All in %.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dd3d_jax.data import PointCloudDataset
from dd3d_jax.data import shapenetpart
from dd3d_jax.errors import ConfigError, DataError
from dd3d_jax.generator import part_labels
from dd3d_jax.models import Network, PointNetSeg

SCORES = ('oa', 'instance_miou', 'class_miou')   # 'oa': point accuracy
GAIN = 'class_miou'  # the gain over random is taken of the score the part tables rank by
COLUMNS = {'OA': 'final_oa', 'inst. mIoU': 'final_instance_miou',
           'cls. mIoU': 'final_class_miou'}
TABLES = ('2',)
CAPTION = ('Final-epoch point OA, instance mIoU and class mIoU % (mean ± std over runs). '
           'Backbone: {backbone}.')
SET_KEY = 'parts'
DESCRIPTION = 'part segmentation'


class PartLayout(NamedTuple):
  """Which global part ids each shape class owns (hashable: a static argument).

  Attributes:
    offsets: [K] the first part id of each class.
    counts: [K] the number of parts of each class; class c owns
      offsets[c] ... offsets[c] + counts[c] - 1.
    num_parts: the number of part ids (the segmentation network's outputs).
  """
  offsets: tuple[int, ...]
  counts: tuple[int, ...]
  num_parts: int

  @property
  def max_count(self) -> int:
    return max(self.counts)


def part_layout(dataset: PointCloudDataset) -> PartLayout:
  """The part ids of each class, from the part labels of both splits.

  Class c owns the ids from the smallest to the largest it uses (ShapeNet-part and the
  procedural shapes number each class's parts contiguously).

  Raises:
    DataError: the data has no part labels, or two classes share part ids.
  """
  if dataset.train.parts is None or dataset.test.parts is None:
    raise DataError(f'{dataset.source or dataset.name} has no part labels in both splits; '
                    'part segmentation needs them (ShapeNet-part, the procedural shapes, or '
                    'an .npz with train_parts and test_parts).')
  k = dataset.num_classes
  lo, hi = np.full(k, np.iinfo(np.int32).max), np.full(k, -1)
  for split in (dataset.train, dataset.test):
    for c in np.unique(split.labels):
      ids = split.parts[split.labels == c]
      lo[c], hi[c] = min(lo[c], ids.min()), max(hi[c], ids.max())
  order = np.argsort(lo)
  for a, b in zip(order[:-1], order[1:]):
    if hi[a] >= lo[b]:
      names = dataset.class_names
      raise DataError(f'{dataset.source or dataset.name}: classes {names[a]!r} and {names[b]!r} '
                      f'share part ids ({lo[b]}..{hi[a]}); give every class its own range of '
                      'global part ids (class c: offset_c ... offset_c + parts_c - 1).')
  return PartLayout(tuple(int(x) for x in lo), tuple(int(x) for x in hi - lo + 1),
                    max(int(hi.max()) + 1, dataset.num_parts))


def class_proportions(dataset: PointCloudDataset, layout: PartLayout) -> np.ndarray:
  """Each class's share of each of its parts: the authors' table for ShapeNet-part
  (its readers set num_parts to its 50 parts), else the shares in the training labels. [K, layout.max_count] float32, rows sum to 1
  (zero past each class's count)."""
  official = shapenetpart.official_proportions()
  if dataset.num_parts == shapenetpart.NUM_PARTS and dataset.num_classes == len(official):
    return official  # read by a ShapeNet-part reader (whatever data.name calls it)
  return shapenetpart.part_proportions(dataset.train.parts, dataset.train.labels,
                                       dataset.num_classes, layout.offsets, layout.counts)


def synthetic_parts(noise: jax.Array, classes: jax.Array, layout: PartLayout,
                    proportions: jax.Array) -> jax.Array:
  """The global part id of every generated point, from its noise value (DD3D).

  Args:
    noise: [B, N, D] or [B, N] the generator's noise in [0, 1) (the first value labels).
    classes: [B] int shape classes.
    proportions: [K, Pmax] (`class_proportions`).
  Returns:
    [B, N] int32: (0, 1] cut into the class's part shares, offset by its first id.
  """
  local = part_labels(noise[..., 0] if noise.ndim == 3 else noise,
                      jnp.asarray(proportions)[classes])
  return local + jnp.asarray(layout.offsets, jnp.int32)[classes][:, None]


def part_cross_entropy(logits: jax.Array, parts: jax.Array, mask: jax.Array | None = None,
                       weights: jax.Array | None = None) -> jax.Array:
  """Per-point softmax cross-entropy, the mean over every counted point of the batch.

  As PyTorch's `cross_entropy(logits.view(-1, P), parts.view(-1), ignore_index=-1)` of
  the reference, where ignored points are those outside `mask`.

  Args:
    logits: [B, N, P]; parts: [B, N] int targets.
    mask: optional [B, N] bool or 0/1: points outside it are ignored (the per-part
      matching of DD3D keeps one part's points; the others' labels are ignored).
    weights: optional [B] per-cloud weights (0 drops a padded cloud, as
      `training.epoch_batches` and `distill.sample_real` give).
  Returns:
    Scalar: sum of w_b m_bn loss_bn over sum of w_b m_bn (0 when no point counts).
  """
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, parts)     # [B, N]
  mask = jnp.ones_like(losses) if mask is None else jnp.asarray(mask, losses.dtype)
  if weights is not None:
    mask = mask * jnp.asarray(weights, losses.dtype)[:, None]
  total = mask.sum()
  return jnp.sum(losses * mask) / jnp.where(total > 0, total, 1.0)


def restrict_to_class(logits: jax.Array, labels: jax.Array, offsets, counts) -> jax.Array:
  """The most likely part of each point among its cloud's class's parts.

  Args:
    logits: [M, N, P] scores of every global part; labels: [M] shape classes.
    offsets, counts: [K] the first global part id and the number of parts of each class.
  Returns:
    [M, N] int32 global part ids.
  """
  offsets, counts = jnp.asarray(offsets), jnp.asarray(counts)
  ids = jnp.arange(logits.shape[-1])
  first, count = offsets[labels][:, None], counts[labels][:, None]
  own = (ids >= first) & (ids < first + count)                     # [M, P]
  return jnp.argmax(jnp.where(own[:, None, :], logits, -jnp.inf), axis=-1).astype(jnp.int32)


def cloud_ious(pred: jax.Array, parts: jax.Array, labels: jax.Array, offsets,
               counts) -> jax.Array:
  """Each cloud's IoU, the mean over its class's parts (absent from both: 1).

  Args:
    pred, parts: [M, N] predicted and true global part ids; labels: [M].
  Returns:
    [M] IoU in [0, 1].
  """
  offsets, counts = jnp.asarray(offsets), jnp.asarray(counts)
  first, count = offsets[labels][:, None], counts[labels]
  local = jnp.arange(int(np.max(counts)))                           # [Pmax]
  p = (pred - first)[..., None] == local                            # [M, N, Pmax]
  t = (parts - first)[..., None] == local
  inter, union = (p & t).sum(axis=1), (p | t).sum(axis=1)           # [M, Pmax]
  iou = jnp.where(union > 0, inter / jnp.maximum(union, 1), 1.0)
  valid = local < count[:, None]
  return (iou * valid).sum(axis=1) / count


def part_metrics(pred, parts, labels, offsets, counts) -> dict[str, float]:
  """{'point_acc', 'instance_miou', 'class_miou'} in % (see the module docstring).

  Args:
    pred, parts: [M, N] predicted (restricted to each class) and true global part ids.
    labels: [M] shape classes; offsets, counts: [K] each class's parts.
  """
  pred, parts, labels = (np.asarray(a) for a in (pred, parts, labels))
  ious = np.asarray(cloud_ious(pred, parts, labels, offsets, counts), np.float64)
  per_class = [ious[labels == c].mean() for c in np.unique(labels)]
  return {'point_acc': 100.0 * float((pred == parts).mean()),
          'instance_miou': 100.0 * float(ious.mean()),
          'class_miou': 100.0 * float(np.mean(per_class))}


def part_masks(parts: jax.Array, first: jax.Array, count: int) -> jax.Array:
  """One mask per local part j < count of the class whose first id is `first`:
  [count, ..., N] float (1 where a point is of that part)."""
  local = jnp.arange(count).reshape(-1, *([1] * parts.ndim))
  return (parts[None] == first + local).astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class Segmentation:
  """Every point's part id; see the module docstring. Hashable.

  Attributes:
    layout: the part ids of each class.
    proportions: [K][Pmax] each class's part shares (`class_proportions`), as tuples:
      the noise intervals of a generator's parts.
  """
  layout: PartLayout
  proportions: tuple[tuple[float, ...], ...]
  name: str = 'segmentation'
  bn_from_real = True      # seg_inr.py: DC's BatchNorm trick before matching
  per_point = True         # one target per point
  distill_rotated = False  # seg_inr.py distils without the rotator, evaluates behind it

  def network(self, arch: str, rotator: Any) -> Network:
    """The reference segmentation PointNet (the only `arch`, checked by `check`)."""
    del arch
    return Network(PointNetSeg(num_parts=self.layout.num_parts,
                               num_shape_classes=len(self.layout.counts)), rotator,
                   conditioned=True)

  def targets(self, split) -> np.ndarray:
    """[N, P] int32 global part ids."""
    return np.asarray(split.parts, np.int32)

  def loss(self, outputs: jax.Array, targets: jax.Array, weights: jax.Array | None = None,
           mask: jax.Array | None = None) -> jax.Array:
    return part_cross_entropy(outputs, targets, mask, weights)

  def predict(self, outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """Each point's most likely part among its class's parts: [B, N] int32."""
    return restrict_to_class(outputs, labels, self.layout.offsets, self.layout.counts)

  def score(self, predictions, split) -> dict[str, float]:
    """{'oa' (point accuracy), 'instance_miou', 'class_miou'} in %."""
    m = part_metrics(predictions, split.parts, split.labels, self.layout.offsets,
                     self.layout.counts)
    return {'oa': m['point_acc'], 'instance_miou': m['instance_miou'],
            'class_miou': m['class_miou']}

  def synthetic_targets(self, noise: jax.Array, labels: jax.Array) -> jax.Array:
    """The part of every generated point from its noise: [M, N, D] -> [M, N] int32."""
    return synthetic_parts(noise, labels, self.layout, jnp.asarray(self.proportions))

  def match_groups(self, targets: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The per-part matching of class c: one mask per part slot [Pmax, B, N], and which
    slots are parts of c [Pmax] (the others are skipped)."""
    width = self.layout.max_count
    masks = part_masks(targets, jnp.asarray(self.layout.offsets, jnp.int32)[c], width)
    return masks, jnp.arange(width) < jnp.asarray(self.layout.counts, jnp.int32)[c]

  def parts(self, targets):
    return targets


def make(dataset: PointCloudDataset) -> Segmentation:
  layout = part_layout(dataset)
  proportions = tuple(tuple(float(x) for x in row)
                      for row in class_proportions(dataset, layout))
  return Segmentation(layout, proportions)


def check(config, where: str = 'task') -> None:
  """The reference's network is the only one: the segmentation PointNet."""
  from dd3d_jax import config as config_lib  # config finds tasks by name: no import cycle
  networks = {n for m in config_lib.parse_methods(config.eval.methods) if m in config.methods
              for n in config_lib.distill_networks(config_lib.method_settings(config, m))}
  if (config.model.arch != 'pointnet' or config_lib.eval_backbones(config) != ('pointnet',)
      or networks - {'pointnet'}):
    raise ConfigError("part segmentation trains and evaluates the segmentation PointNet; set "
                      "model.arch='pointnet', eval.backbones='' and distill.networks=''.")
