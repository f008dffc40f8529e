"""Distribution matching: the loss against NumPy, the class-mapped gradient, shared augmentation."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dd3d_jax import geometry
from dd3d_jax.methods import dm
from dd3d_jax.models import make_network

K, CPC, B, N = 3, 2, 4, 24


def test_mean_feature_distance_matches_numpy():
  rng = np.random.default_rng(0)
  real, syn = rng.normal(size=(5, 7)), rng.normal(size=(3, 7))
  w = np.array([0.5, 0.25, 0.25, 0, 0])  # two padded rows
  expected = np.sum((w @ real - syn.mean(0)) ** 2)
  assert float(dm.mean_feature_distance(jnp.asarray(real), jnp.asarray(w),
                                        jnp.asarray(syn))) == pytest.approx(expected, rel=1e-5)
  assert float(dm.mean_feature_distance(jnp.asarray(real), jnp.full(5, 0.2),
                                        jnp.asarray(real))) == pytest.approx(0, abs=1e-10)


def make(class_chunk=1, augment=False):
  return dm.DistributionMatching(
      network=make_network('pointnet', K), num_classes=K, cpc=CPC, train_points=N,
      batch_real=B, iterations=4, lr=1e-3, weight_decay=0.0, optimizer='adam', momentum=0.0,
      augment=augment, class_chunk=class_chunk)


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

    emb_real = [np.asarray(clf.embed(net, real[c])) for c in range(K)]
    emb_syn = np.asarray(clf.embed(net, syn))
    expected = sum(np.sum((np.asarray(weights[c]) @ emb_real[c]
                           - emb_syn[c * CPC:(c + 1) * CPC].mean(0)) ** 2) for c in range(K))
    assert float(loss) == pytest.approx(expected, rel=1e-10)

    def plain(points):  # one function of the whole tensor, no class mapping
      e_syn = clf.embed(net, points)
      return sum(jnp.sum((weights[c] @ clf.embed(net, real[c])
                          - e_syn[c * CPC:(c + 1) * CPC].mean(0)) ** 2) for c in range(K))

    chex.assert_trees_all_close(grad, jax.grad(plain)(syn), rtol=1e-9, atol=1e-12)


def test_shared_augmentation_draws_one_transform_for_real_and_synthetic():
  cloud = geometry.normalize_to_unit_sphere(jax.random.normal(jax.random.key(0), (1, N, 3)))
  real, syn = jnp.tile(cloud, (B, 1, 1)), jnp.tile(cloud, (CPC, 1, 1))
  key = jax.random.key(7)
  real_aug, syn_aug = dm.shared_augment(key, real, syn)
  chex.assert_shape((real_aug, syn_aug), (real.shape, syn.shape))
  # Same scale and rotation: the clouds differ by their jitter only (<= 0.05 per coordinate each).
  assert float(jnp.abs(real_aug[:, None] - syn_aug[None]).max()) <= 0.1 + 1e-6
  independent = geometry.augment(jax.random.key(8), real)
  assert float(jnp.abs(independent[:, None] - syn_aug[None]).max()) > 0.1


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
