"""The DM method: its class-mapped loss and gradient against a NumPy reference, and a step."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dd3d_jax.methods import dm
from dd3d_jax.models import make_network
from dd3d_jax.objectives.distribution import class_loss

K, CPC, B, N = 3, 2, 4, 24


def make(class_chunk=1, augment=False, **extra):
  return dm.DistributionMatching(
      network=make_network('pointnet', K), num_classes=K, cpc=CPC, train_points=N,
      batch_real=B, iterations=4, lr=1e-3, weight_decay=0.0, optimizer='adam', momentum=0.0,
      augment=augment, class_chunk=class_chunk, **extra)


@pytest.mark.parametrize('chunk', [0, 1, 2])
def test_summed_loss_and_gradient_match_a_numpy_reference(chunk):
  with jax.enable_x64(True):
    method = make(chunk)
    clf = method.network
    f64 = functools.partial(jax.tree.map, lambda x: jnp.asarray(x, jnp.float64))
    net = f64(clf.init(jax.random.key(0)))
    syn = jax.random.normal(jax.random.key(1), (K * CPC, N, 3), jnp.float64)
    real = jax.random.normal(jax.random.key(2), (K, B, N, 3), jnp.float64)
    weights = jnp.asarray(np.tile([1 / 3, 1 / 3, 1 / 3, 0], (K, 1)))
    loss, grad = jax.jit(method.loss)(syn, net, real, weights, jax.random.key(3))

    embed = jax.jit(clf.embed)  # one compile, not one per operation
    emb_real = [np.asarray(embed(net, real[c])) for c in range(K)]
    emb_syn = np.asarray(embed(net, syn))
    expected = sum(np.sum((np.asarray(weights[c]) @ emb_real[c]
                           - emb_syn[c * CPC:(c + 1) * CPC].mean(0)) ** 2) for c in range(K))
    assert float(loss) == pytest.approx(expected, rel=1e-10)

    def plain(points):  # one function of the whole tensor, no class mapping
      e_syn = clf.embed(net, points)
      return sum(jnp.sum((weights[c] @ clf.embed(net, real[c])
                          - e_syn[c * CPC:(c + 1) * CPC].mean(0)) ** 2) for c in range(K))

    chex.assert_trees_all_close(grad, jax.jit(jax.grad(plain))(syn), rtol=1e-9, atol=1e-12)


def test_a_step_lowers_the_loss_on_a_fixed_network():
  method = make()
  net = method.network.init(jax.random.key(0))
  real = jax.random.normal(jax.random.key(2), (K, B, N, 3))
  weights = jnp.full((K, B), 1 / B)
  points = jax.random.normal(jax.random.key(1), (K * CPC, N, 3))
  loss = lambda p: method.loss(p, net, real, weights, jax.random.key(0))  # noqa: E731
  before, grad = loss(points)
  after, _ = loss(points - 1e-2 * grad / jnp.abs(grad).max())
  assert float(after) < float(before)


def test_objective_settings_reach_each_classs_loss():
  method = make(augment=True, augment_up=True, augment_dropout=0.5, layers=True)
  net = method.network.init(jax.random.key(0))
  real = jax.random.normal(jax.random.key(2), (K, B, N, 3))
  weights = jnp.full((K, B), 1 / B)
  points = jax.random.normal(jax.random.key(1), (K * CPC, N, 3))
  loss, _ = method.loss(points, net, real, weights, jax.random.key(5))
  keys = jax.random.split(jax.random.key(5), K)
  want = sum(class_loss(method.network, net, real[c], weights[c], points[c * CPC:(c + 1) * CPC],
                        keys[c], layers=True, up=True, dropout=0.5) for c in range(K))
  np.testing.assert_allclose(float(loss), float(want), rtol=1e-5)
  plain, _ = make(augment=True).loss(points, net, real, weights, jax.random.key(5))
  assert not np.isclose(float(plain), float(loss), rtol=1e-5)
