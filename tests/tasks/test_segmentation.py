"""Part segmentation scores against hand-computed cases."""

import numpy as np
import pytest

from dd3d_jax.tasks.segmentation import (cloud_ious, part_cross_entropy, part_metrics,
                                        restrict_to_class)

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


def test_part_cross_entropy_ignores_masked_points_and_weighs_clouds():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(2, 5, 4)).astype(np.float32)
  parts = rng.integers(0, 4, size=(2, 5))
  log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  nll = -np.take_along_axis(log_p, parts[..., None], -1)[..., 0]               # [2, 5]
  np.testing.assert_allclose(part_cross_entropy(logits, parts), nll.mean(), rtol=1e-5)
  mask = np.array([[1, 1, 0, 0, 0], [0, 0, 0, 0, 1]])
  expected = (nll[0, :2].mean() + nll[1, 4]) / 2
  np.testing.assert_allclose(part_cross_entropy(logits, parts, mask), expected, rtol=1e-5)
  changed = logits.copy()
  changed[0, 2:] += 100.0                      # ignored points: the loss does not move
  np.testing.assert_allclose(part_cross_entropy(changed, parts, mask), expected, rtol=1e-5)
  np.testing.assert_allclose(part_cross_entropy(logits, parts, mask, np.array([1.0, 0.0])),
                             nll[0, :2].mean(), rtol=1e-5)
