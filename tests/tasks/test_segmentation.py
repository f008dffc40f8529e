"""Part segmentation scores against hand-computed cases."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dd3d_jax.tasks.segmentation import (PartLayout, cloud_ious, part_cross_entropy,
                                         part_layout, part_metrics, restrict_to_class,
                                         synthetic_parts)

OFFSETS, COUNTS = (0, 2, 5), (2, 3, 1)  # class 0: parts 0-1, class 1: 2-4, class 2: 5


def test_a_hand_computed_cloud():
  parts, pred = np.array([[0, 0, 1, 1]]), np.array([[0, 1, 1, 1]])
  # part 0: 1 / 2; part 1: 2 / 3 -> (1/2 + 2/3) / 2
  np.testing.assert_allclose(cloud_ious(pred, parts, np.array([0]), OFFSETS, COUNTS),
                             [(0.5 + 2 / 3) / 2])
  m = part_metrics(pred, parts, np.array([0]), OFFSETS, COUNTS)
  assert m['point_acc'] == pytest.approx(75.0)
  assert m['instance_miou'] == pytest.approx(100 * (0.5 + 2 / 3) / 2)


def test_a_part_absent_from_both_counts_one_and_a_one_part_class_is_perfect():
  # class 1 has parts 2, 3, 4; part 4 is in neither prediction nor truth
  parts, pred = np.array([[2, 2, 3, 3]]), np.array([[2, 2, 3, 2]])
  expected = (2 / 3 + 1 / 2 + 1.0) / 3
  np.testing.assert_allclose(cloud_ious(pred, parts, np.array([1]), OFFSETS, COUNTS),
                             [expected])
  np.testing.assert_allclose(cloud_ious(np.full((1, 4), 5), np.full((1, 4), 5), np.array([2]),
                                        OFFSETS, COUNTS), [1.0])


def test_class_miou_weighs_classes_instance_miou_weighs_clouds():
  labels = np.array([0, 0, 0, 2])
  parts = np.array([[0, 0, 1, 1]] * 3 + [[5, 5, 5, 5]])
  pred = np.array([[1, 1, 0, 0]] * 3 + [[5, 5, 5, 5]])  # class 0 all wrong: IoU 0
  m = part_metrics(pred, parts, labels, OFFSETS, COUNTS)
  assert m['instance_miou'] == pytest.approx(25.0)  # (0 + 0 + 0 + 1) / 4
  assert m['class_miou'] == pytest.approx(50.0)     # (0 + 1) / 2
  assert m['point_acc'] == pytest.approx(25.0)


def test_prediction_is_restricted_to_the_parts_of_the_cloud_class():
  logits = np.zeros((2, 3, 6), np.float32)
  logits[:, :, 5] = 10.0      # the best part overall belongs to class 2
  logits[0, :, 1] = 1.0
  logits[1, :, 3] = 1.0
  got = np.asarray(restrict_to_class(logits, np.array([0, 1]), OFFSETS, COUNTS))
  np.testing.assert_array_equal(got, [[1, 1, 1], [3, 3, 3]])


def test_part_cross_entropy_pools_the_counted_points_of_the_batch():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(2, 5, 4)).astype(np.float32)
  parts = rng.integers(0, 4, size=(2, 5))
  log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  nll = -np.take_along_axis(log_p, parts[..., None], -1)[..., 0]               # [2, 5]
  np.testing.assert_allclose(part_cross_entropy(logits, parts), nll.mean(), rtol=1e-5)
  mask = np.array([[1, 1, 0, 0, 0], [0, 0, 0, 0, 1]])
  expected = (nll[0, 0] + nll[0, 1] + nll[1, 4]) / 3  # torch's ignore_index mean
  np.testing.assert_allclose(part_cross_entropy(logits, parts, mask), expected, rtol=1e-5)
  changed = logits.copy()
  changed[0, 2:] += 100.0                      # ignored points: the loss does not move
  np.testing.assert_allclose(part_cross_entropy(changed, parts, mask), expected, rtol=1e-5)
  np.testing.assert_allclose(part_cross_entropy(logits, parts, mask, np.array([1.0, 0.0])),
                             nll[0, :2].mean(), rtol=1e-5)
  assert float(part_cross_entropy(logits, parts, np.zeros((2, 5)))) == 0.0  # nothing counts


def test_synthetic_parts_follow_the_class_proportions():
  layout = PartLayout(OFFSETS, COUNTS, 6)
  proportions = np.array([[0.25, 0.75, 0], [0.5, 0.3, 0.2], [1.0, 0, 0]], np.float32)
  noise = jax.random.uniform(jax.random.key(0), (3, 20000, 1))
  parts = np.asarray(synthetic_parts(noise, jnp.arange(3), layout, proportions))
  for c in range(3):
    ids = parts[c] - OFFSETS[c]
    assert ids.min() >= 0 and ids.max() < COUNTS[c]
    np.testing.assert_allclose(np.bincount(ids, minlength=3) / ids.size, proportions[c],
                               atol=0.01)


def test_part_layout_is_read_from_the_labels_and_shared_ids_are_refused():
  from dd3d_jax.data import Split, PointCloudDataset
  from dd3d_jax.errors import DataError
  pts = np.zeros((3, 4, 3), np.float32)
  def dataset(parts):
    split = Split(pts, np.array([0, 1, 2], np.int32), np.asarray(parts, np.int32))
    return PointCloudDataset('d', ('a', 'b', 'c'), {'train': split, 'test': split})
  assert part_layout(dataset([[0, 1, 1, 0], [2, 4, 3, 3], [5, 5, 5, 5]])) == (
      OFFSETS, COUNTS, 6)
  with pytest.raises(DataError, match="classes 'a' and 'b' share part ids"):
    part_layout(dataset([[0, 1, 1, 0], [1, 2, 2, 2], [5, 5, 5, 5]]))
