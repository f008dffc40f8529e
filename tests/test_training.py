"""Training utilities: epochs, PyTorch-equivalent schedules and optimisers, prediction."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dd3d_jax.tasks.classification import Classification
from dd3d_jax import models, training


@pytest.mark.parametrize('n, batch', [(10, 4), (8, 8), (3, 256), (257, 256)])
def test_epoch_batches_visit_every_example_once(n, batch):
  idx, weights = training.epoch_batches(jax.random.key(0), n, batch)
  steps = training.steps_per_epoch(n, batch)
  assert idx.shape == (steps, min(n, batch))
  real = np.asarray(idx)[np.asarray(weights) > 0]
  assert sorted(real.tolist()) == list(range(n))
  np.testing.assert_allclose(np.asarray(weights).sum(axis=1), 1.0, rtol=1e-6)


def test_step_and_cosine_schedules_match_pytorch_formulas():
  step = training.step_lr(1e-3, epochs_per_step=5, batches_per_epoch=2)
  assert [float(step(c)) for c in (0, 9, 10, 19, 20)] == pytest.approx(
      [1e-3, 1e-3, 1e-4, 1e-4, 1e-5])
  cos = training.cosine_lr(1e-3, 1e-4, total_epochs=200, batches_per_epoch=3)
  for epoch in (0, 50, 100, 199, 200):
    expected = 1e-4 + 0.9e-3 * (1 + np.cos(np.pi * epoch / 200)) / 2
    assert float(cos(3 * epoch + 2)) == pytest.approx(expected, rel=1e-5)


def test_torch_adam_is_l2_regularised_adam():
  params = {'w': jnp.array([1.0, -2.0])}
  grads = {'w': jnp.array([0.5, 0.25])}
  tx = training.torch_adam(1e-2, weight_decay=0.1)
  updates, _ = tx.update(grads, tx.init(params), params)
  g = np.array([0.5, 0.25]) + 0.1 * np.array([1.0, -2.0])  # L2 enters the gradient
  m, v = 0.1 * g, 0.001 * g ** 2
  expected = -1e-2 * (m / 0.1) / (np.sqrt(v / 0.001) + 1e-8)
  np.testing.assert_allclose(np.asarray(updates['w']), expected, rtol=1e-5)


def test_torch_sgd_momentum_and_decay():
  params = {'w': jnp.array([2.0])}
  tx = training.torch_sgd(0.1, momentum=0.9, weight_decay=0.5)
  state = tx.init(params)
  u1, state = tx.update({'w': jnp.array([1.0])}, state, params)
  u2, state = tx.update({'w': jnp.array([1.0])}, state, params)
  buf1 = 1.0 + 0.5 * 2.0
  np.testing.assert_allclose([float(u1['w'][0]), float(u2['w'][0])],
                             [-0.1 * buf1, -0.1 * (0.9 * buf1 + buf1)], rtol=1e-6)


def test_train_epochs_fits_a_separable_problem_and_predict_pads():
  clf = models.make_network('pointnet', 2)
  task = Classification(2)
  key = jax.random.key(0)
  base = jax.random.normal(key, (12, 32, 3))
  labels = jnp.arange(12) % 2
  points = base * jnp.where(labels[:, None, None] == 0, 1.0, jnp.array([3.0, 0.3, 0.3]))
  params = clf.init(key)
  tx = training.torch_adam(1e-3)
  train = jax.jit(lambda p, s: training.train_epochs(
      clf, task, tx, p, s, points, labels, labels, key, num_epochs=30, batch_size=5,
      augment=True))
  params, _, losses = train(params, tx.init(params['params']))
  assert losses.shape == (30,) and float(losses[-1]) < 0.5 * float(losses[0])
  preds = training.predict(clf, task, params, points, labels, batch_size=5)  # 5 + 5 + 2 padded
  np.testing.assert_array_equal(preds, jnp.argmax(clf.logits(params, points), -1))
  np.testing.assert_array_equal(preds, labels)


def test_per_key_optimiser_steps_each_key_with_its_own_optimiser():
  txs = {'a': optax.sgd(0.1, momentum=0.5), 'b': optax.adam(0.01)}
  params = {'a': jnp.arange(3.0), 'b': {'w': jnp.ones((2, 2))}}
  grads = {'a': jnp.array([1.0, -2.0, 0.5]), 'b': {'w': jnp.full((2, 2), 3.0)}}
  tx = training.per_key(txs)
  state = tx.init(params)
  for _ in range(2):
    updates, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, updates)
  start = {'a': jnp.arange(3.0), 'b': {'w': jnp.ones((2, 2))}}
  for k in txs:
    alone, s = start[k], txs[k].init(start[k])
    for _ in range(2):
      u, s = txs[k].update(grads[k], s, alone)
      alone = optax.apply_updates(alone, u)
    chex.assert_trees_all_close(params[k], alone)
