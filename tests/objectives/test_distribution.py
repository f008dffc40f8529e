"""Distribution matching's objective: the distance and a class's loss against NumPy in
float64, and the augmentation drawn once for both sets."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dd3d_jax import geometry
from dd3d_jax.models import make_network
from dd3d_jax.objectives import distribution

B, CPC, N = 4, 2, 24


def test_mean_feature_distance_matches_numpy():
  rng = np.random.default_rng(0)
  real, syn = rng.normal(size=(5, 7)), rng.normal(size=(3, 7))
  w = np.array([0.5, 0.25, 0.25, 0, 0])  # two padded rows
  expected = np.sum((w @ real - syn.mean(0)) ** 2)
  assert float(distribution.mean_feature_distance(jnp.asarray(real), jnp.asarray(w),
                                        jnp.asarray(syn))) == pytest.approx(expected, rel=1e-5)
  assert float(distribution.mean_feature_distance(jnp.asarray(real), jnp.full(5, 0.2),
                                        jnp.asarray(real))) == pytest.approx(0, abs=1e-10)


def test_class_loss_equals_numpy_of_the_features_in_float64():
  with jax.enable_x64(True):
    network = make_network('pointnet', 3)
    net = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), network.init(jax.random.key(0)))
    real = jax.random.normal(jax.random.key(1), (B, N, 3), jnp.float64)
    syn = jax.random.normal(jax.random.key(2), (CPC, N, 3), jnp.float64)
    w = jnp.asarray([0.5, 0.5, 0.0, 0.0])
    got = distribution.class_loss(network, net, real, w, syn, None)
    f_real = np.asarray(network.embed(net, real, train=True))
    f_syn = np.asarray(network.embed(net, syn, train=True))
    assert float(got) == pytest.approx(float(np.sum((np.asarray(w) @ f_real - f_syn.mean(0)) ** 2)), rel=1e-12)
    # Augmented: the same loss of the clouds as `geometry.augment_together` draws them.
    key = jax.random.key(3)
    # With `layers`: summed over every stage's mean feature (PointNet: 2 stages + global).
    stages = (network.embed_stages(net, real, train=True),
              network.embed_stages(net, syn, train=True))
    want = sum(np.sum((np.asarray(w) @ np.asarray(r) - np.asarray(s).mean(0)) ** 2)
               for r, s in zip(*stages))
    assert len(stages[0]) == 3 and float(distribution.class_loss(
        network, net, real, w, syn, None, layers=True)) == pytest.approx(want, rel=1e-12)
    for extra in ({}, {'up': True, 'dropout': 0.5}):
      real_aug, syn_aug = geometry.augment_together(key, real, syn, **extra)
      assert float(distribution.class_loss(network, net, real, w, syn, key, **extra)) == (
          pytest.approx(float(distribution.class_loss(network, net, real_aug, w, syn_aug, None)),
                        rel=1e-12))
