"""Herding, k-center and k-medoids against NumPy brute force, and per-class selection."""

import jax.numpy as jnp
import numpy as np
import pytest

from dd3d_jax.ops import selection


def herding_reference(x, k, valid):
  idx = np.flatnonzero(valid)
  mean = x[idx].mean(0)
  chosen = []
  for t in range(k):
    left = [i for i in idx if i not in chosen]
    if not left:
      chosen.append(-1)
      continue
    total = x[[c for c in chosen if c >= 0]].sum(0) if chosen else np.zeros(x.shape[1])
    gaps = [np.sum((mean - (total + x[i]) / (t + 1)) ** 2) for i in left]
    chosen.append(left[int(np.argmin(gaps))])
  return chosen


def k_center_reference(x, k, valid):
  idx = list(np.flatnonzero(valid))
  mean = x[idx].mean(0)
  chosen = [idx[int(np.argmin([np.sum((x[i] - mean) ** 2) for i in idx]))]]
  for _ in range(1, k):
    left = [i for i in idx if i not in chosen]
    if not left:
      chosen.append(-1)
      continue
    far = [min(np.sum((x[i] - x[c]) ** 2) for c in chosen if c >= 0) for i in left]
    chosen.append(left[int(np.argmax(far))])
  return chosen


CASES = [  # (rows, features, k, valid rows)
    (12, 4, 3, 12), (30, 8, 7, 30), (9, 3, 1, 9), (10, 5, 10, 10), (15, 4, 6, 11), (6, 2, 8, 4)]


@pytest.mark.parametrize('fn, reference', [(selection.herding, herding_reference),
                                           (selection.k_center, k_center_reference)],
                         ids=['herding', 'kcenter'])
@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('n, f, k, n_valid', CASES)
def test_matches_numpy_brute_force(fn, reference, seed, n, f, k, n_valid):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, f)).astype(np.float32)
  valid = np.zeros(n, bool)
  valid[rng.permutation(n)[:n_valid]] = True
  x[~valid] = 100.0  # padding rows far away: they must never be chosen nor averaged
  got = np.asarray(fn(x, k, valid)).tolist()
  assert got == reference(x.astype(np.float64), k, valid)
  assert got.count(-1) == max(0, k - n_valid)


@pytest.mark.parametrize('fn, reference', [(selection.herding, herding_reference),
                                           (selection.k_center, k_center_reference)],
                         ids=['herding', 'kcenter'])
def test_ties_go_to_the_smallest_index(fn, reference):
  x = np.array([[1.0, 0], [3, 0], [1, 0], [3, 0], [-2, 0], [-2, 0]], np.float32)
  got = np.asarray(fn(x, 4)).tolist()
  assert got == reference(x, 4, np.ones(6, bool))
  assert len(set(got)) == 4


def test_first_pick_is_not_row_zero_when_another_is_closer_to_the_mean():
  x = np.array([[5.0], [0.1], [-1.0], [-4.0]], np.float32)  # mean 0.025: row 1
  assert int(selection.herding(x, 1)[0]) == 1 and int(selection.k_center(x, 1)[0]) == 1


def test_herding_mean_is_closer_than_random_subsets():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(40, 6)).astype(np.float32)
  chosen = np.asarray(selection.herding(x, 5))
  gap = np.sum((x[chosen].mean(0) - x.mean(0)) ** 2)
  random_gaps = [np.sum((x[rng.permutation(40)[:5]].mean(0) - x.mean(0)) ** 2)
                 for _ in range(200)]
  assert gap < np.percentile(random_gaps, 5)


def test_k_center_each_pick_maximises_the_distance_to_those_chosen():
  x = np.random.default_rng(3).normal(size=(25, 3)).astype(np.float32)
  chosen = np.asarray(selection.k_center(x, 6)).tolist()
  for t in range(1, 6):
    dist = np.min(np.linalg.norm(x[:, None] - x[chosen[:t]][None], axis=-1), axis=1)
    dist[chosen[:t]] = -1
    assert chosen[t] == int(np.argmax(dist))


@pytest.mark.parametrize('fn', [selection.herding, selection.k_center])
def test_select_per_class_is_class_major_and_complete(fn):
  rng = np.random.default_rng(1)
  labels = np.array([2] * 7 + [0] * 3 + [1] * 5 + [0] * 2)
  x = rng.normal(size=(len(labels), 4)).astype(np.float32)
  got = selection.select_per_class(fn, x, labels, 3, 4)
  counts = [min(4, int((labels == c).sum())) for c in range(3)]
  np.testing.assert_array_equal(labels[got], np.repeat(np.arange(3), counts))
  assert len(set(got.tolist())) == len(got)
  expected = []
  for c in range(3):
    m = np.flatnonzero(labels == c)
    expected += [m[i] for i in np.asarray(fn(x[m], 4)) if i >= 0]
  assert got.tolist() == expected


def test_select_per_class_compiles_once_for_classes_of_every_size():
  traces = []

  def counted(x, k, valid):
    traces.append(1)
    return selection.herding(x, k, valid)

  labels = np.array([0] * 9 + [1] * 2 + [2] * 5)
  x = np.random.default_rng(2).normal(size=(len(labels), 3)).astype(np.float32)
  selection.select_per_class(counted, x, labels, 3, 3)
  assert len(traces) == 1


def test_nearest_mean_against_numpy():
  rng = np.random.default_rng(3)
  x = rng.normal(size=(9, 4)).astype(np.float32)
  valid = np.arange(9) < 7
  got = np.asarray(selection.nearest_mean(jnp.asarray(x), 3, jnp.asarray(valid)))
  mean = x[:7].mean(0)
  expected = np.argsort(((x[:7] - mean) ** 2).sum(-1), kind='stable')[:3]
  np.testing.assert_array_equal(got, expected)
  short = np.asarray(selection.nearest_mean(jnp.asarray(x), 9, jnp.asarray(valid)))
  assert (short[7:] == -1).all() and sorted(short[:7]) == list(range(7))


def k_medoids_reference(d, k, valid):
  idx = list(np.flatnonzero(valid))
  chosen = []
  for _ in range(k):
    left = [i for i in idx if i not in chosen]
    if not left:
      chosen.append(-1)
      continue
    cost = [sum(min(d[j, c] for c in [*chosen, i] if c >= 0) for j in idx) for i in left]
    chosen.append(left[int(np.argmin(cost))])
  return chosen


@pytest.mark.parametrize('seed', [0, 1])
@pytest.mark.parametrize('n, f, k, n_valid', CASES)
def test_k_medoids_matches_numpy_brute_force(seed, n, f, k, n_valid):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, f))
  d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
  valid = np.zeros(n, bool)
  valid[rng.permutation(n)[:n_valid]] = True
  d[~valid, :] = d[:, ~valid] = -5.0  # padding rows look best: they must never count
  np.fill_diagonal(d, 0.0)
  got = np.asarray(selection.k_medoids(d.astype(np.float32), k, valid)).tolist()
  assert got == k_medoids_reference(d, k, valid)
  assert got.count(-1) == max(0, k - n_valid)


def test_k_medoids_first_pick_is_the_medoid_not_an_outlier():
  x = np.array([0.0, 1.0, 2.0, 3.0, 50.0])  # the median minimises the summed distance
  d = np.abs(x[:, None] - x[None]).astype(np.float32)
  assert np.asarray(selection.k_medoids(d, 1)).tolist() == [2]
  two_groups = np.concatenate([x[:4], x[:4] + 100.0])
  d = np.abs(two_groups[:, None] - two_groups[None]).astype(np.float32)
  first, second = np.asarray(selection.k_medoids(d, 2)).tolist()
  assert {first // 4, second // 4} == {0, 1}  # the second covers the other group
