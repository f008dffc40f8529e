"""Trajectory matching's objective: the distance and the batches against NumPy, and the
unroll against a Python loop and finite differences in float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dd3d_jax.objectives import trajectory


def test_squared_distance_against_numpy():
  a = {'w': np.arange(6.0).reshape(2, 3), 'b': np.ones(2)}
  b = {'w': np.zeros((2, 3)), 'b': np.array([0.0, 3.0])}
  assert float(trajectory.squared_distance(a, b)) == pytest.approx(sum(i * i for i in range(6)) + 1 + 4)


@pytest.mark.parametrize('num_clouds,batch,steps', [(6, 4, 5), (6, 6, 3), (6, 10, 2), (7, 3, 7)])
def test_batch_indices_cover_every_cloud_once_per_pass(num_clouds, batch, steps):
  idx = np.asarray(trajectory.batch_indices(jax.random.key(1), num_clouds, batch, steps))
  assert idx.shape == (steps, min(batch, num_clouds))
  flat = idx.reshape(-1)
  for p in range(len(flat) // num_clouds):
    assert sorted(flat[p * num_clouds:(p + 1) * num_clouds]) == list(range(num_clouds))


def quadratic(theta, i, key):
  """A batch's loss: 1/2 |theta - mean of the batch's targets|^2 (plus key-driven noise)."""
  del key
  return 0.5 * jnp.sum(jnp.square(theta['w'] - TARGETS[i].mean(0)))


TARGETS = jnp.arange(12.0).reshape(4, 3) / 10


@pytest.mark.parametrize('remat', [False, True])
def test_unroll_is_sgd_from_the_start_in_float64(remat):
  with jax.enable_x64(True):
    start = {'w': jnp.zeros(3, jnp.float64)}
    batches = jnp.array([[0, 1], [2, 3], [1, 2]])
    keys = jax.random.split(jax.random.key(0), 3)
    got = trajectory.student_unroll(quadratic, start, jnp.float64(0.3), batches, keys, remat)
    w = np.zeros(3)
    for b in np.asarray(batches):
      w = w - 0.3 * (w - np.asarray(TARGETS)[b].mean(0))
    np.testing.assert_allclose(np.asarray(got['w']), w, rtol=1e-14)


def test_loss_gradient_in_the_step_size_matches_finite_differences_in_float64():
  with jax.enable_x64(True):
    start, target = {'w': jnp.zeros(3, jnp.float64)}, {'w': jnp.ones(3, jnp.float64)}
    batches, keys = jnp.array([[0, 1], [2, 3]]), jax.random.split(jax.random.key(0), 2)

    def loss(lr):
      student = trajectory.student_unroll(quadratic, start, lr, batches, keys, True)
      return trajectory.trajectory_loss(student, start, target)

    assert float(loss(jnp.float64(0.0))) == pytest.approx(1.0)  # a student that did not move
    h, lr = 1e-6, jnp.float64(0.2)
    numeric = (loss(lr + h) - loss(lr - h)) / (2 * h)
    assert float(jax.grad(loss)(lr)) == pytest.approx(float(numeric), rel=1e-7)
