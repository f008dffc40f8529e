"""dd3d_jax.evaluate: the protocol's densification of sets sparser than the test clouds."""

import dataclasses

import jax
import numpy as np
import pytest

from dd3d_jax import data as data_lib
from dd3d_jax import evaluate, geometry
from dd3d_jax.models import make_network
from dd3d_jax.tasks.classification import Classification
from tests.tiny import tiny_config

PROTOCOL = evaluate.Protocol(epochs=1, batch_size=4, test_every=1, test_batch=16)


@pytest.fixture(scope='module')
def dataset():
  return data_lib.load(tiny_config().data)  # 64-point clouds


def evaluator(dataset, densify):
  k = dataset.num_classes
  return evaluate.Evaluator(make_network('pointnet', k), Classification(k),
                            dataclasses.replace(PROTOCOL, densify=densify), dataset.test)


def trained(evaluator, points, labels, key):
  variables, result = evaluator.train(points, labels, labels, key)
  return jax.tree.leaves(variables['params']), result['final_oa']


def test_densify_trains_a_sparse_set_on_it_brought_up_to_the_test_resolution(dataset):
  train = dataset.train
  sparse = np.asarray(geometry.subsample(jax.random.key(0), train.points[:8], 32))
  key = jax.random.key(3)
  dense, _ = geometry.densify(jax.random.fold_in(key, evaluate.DENSIFY_STREAM), sparse, None,
                              train.points.shape[1])
  got = trained(evaluator(dataset, True), sparse, train.labels[:8], key)
  want = trained(evaluator(dataset, False), np.asarray(dense), train.labels[:8], key)
  for a, b in zip(*(got[0], want[0])):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  assert got[1] == want[1]


def test_densify_leaves_a_set_at_the_test_resolution_and_its_run_as_they_were(dataset):
  train, key = dataset.train, jax.random.key(4)
  got = trained(evaluator(dataset, True), train.points[:8], train.labels[:8], key)
  want = trained(evaluator(dataset, False), train.points[:8], train.labels[:8], key)
  for a, b in zip(*(got[0], want[0])):
    np.testing.assert_array_equal(a, b)
  assert evaluate.protocol_record(PROTOCOL)['densify'] is False
