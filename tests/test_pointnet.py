"""PointNets: reference init and norms, permutation invariance, the rotator wrapper."""

import itertools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dd3d_jax import models, rotator
from dd3d_jax.errors import ConfigError
from dd3d_jax.models import pointnet


def test_instance_norm_matches_numpy():
  x = np.random.default_rng(0).normal(size=(2, 50, 7)).astype(np.float32) * 3 + 2
  ref = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)
  np.testing.assert_allclose(np.asarray(pointnet.instance_norm(jnp.asarray(x))), ref, atol=1e-5)


def test_classifier_shapes_init_and_embedding():
  clf = models.make_network('pointnet', 7)
  variables = clf.init(jax.random.key(0))
  params = variables['params']
  fans = {'conv1': 3, 'conv2': 64, 'conv3': 128, 'classifier': 1024}
  for name, fan_in in fans.items():
    for leaf in params['net'][name].values():  # PyTorch default U(+-1/sqrt(fan_in))
      assert np.abs(np.asarray(leaf)).max() <= 1 / math.sqrt(fan_in)
  chex.assert_shape(params['net']['conv3']['kernel'], (128, 1024))
  pts = jax.random.normal(jax.random.key(1), (5, 64, 3))
  chex.assert_shape(clf.logits(variables, pts), (5, 7))
  chex.assert_shape(clf.embed(variables, pts), (5, 1024))
  logits = params['net']['classifier']['kernel'].T @ clf.embed(variables, pts).T
  np.testing.assert_allclose(np.asarray(clf.logits(variables, pts)),
                             np.asarray(logits.T + params['net']['classifier']['bias']),
                             rtol=1e-4, atol=1e-4)


def test_embed_stages_are_each_stage_averaged_over_points_then_the_embedding():
  clf = models.make_network('pointnet', 7)
  variables = clf.init(jax.random.key(0))
  pts = jax.random.normal(jax.random.key(1), (5, 64, 3))
  stages = clf.embed_stages(variables, pts, train=True)
  chex.assert_shape(stages, [(5, 64), (5, 128), (5, 1024)])
  np.testing.assert_array_equal(stages[-1], clf.embed(variables, pts, train=True))
  conv1 = variables['params']['net']['conv1']  # a linear map: the mean commutes with it
  np.testing.assert_allclose(stages[0], pts.mean(1) @ conv1['kernel'] + conv1['bias'],
                             rtol=1e-4, atol=1e-5)


def test_classifier_is_invariant_to_point_order():
  clf = models.make_network('pointnet', 4)
  params = clf.init(jax.random.key(0))
  pts = jax.random.normal(jax.random.key(1), (2, 100, 3))
  perm = jax.random.permutation(jax.random.key(2), 100)
  np.testing.assert_allclose(np.asarray(clf.logits(params, pts[:, perm])),
                             np.asarray(clf.logits(params, pts)), rtol=1e-5, atol=1e-5)


def test_rotator_wrapped_classifier_ignores_axis_signs():
  clf = models.make_network('pointnet', 4, rotator.SignRotator())
  bare = models.make_network('pointnet', 4)
  params = clf.init(jax.random.key(0))
  pts = jax.random.normal(jax.random.key(1), (3, 64, 3)) * jnp.array([1.0, 0.6, 0.3])
  ref = np.asarray(clf.logits(params, pts))
  flipped = [np.asarray(clf.logits(params, pts * jnp.array(s, jnp.float32)))
             for s in itertools.product([1, -1], repeat=3)]
  for out in flipped:
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
  assert not np.allclose(bare.logits(params, pts * jnp.array([-1.0, 1, 1])),
                         bare.logits(params, pts))


def test_unknown_architecture_lists_the_registered_ones():
  with pytest.raises(ConfigError, match="network 'resnet' is unknown; use one of .*pointnet"):
    models.make_network('resnet', 3)


def test_segmentation_pointnet():
  net = pointnet.PointNetSeg()
  pts = jax.random.normal(jax.random.key(0), (4, 32, 3))
  labels = jnp.array([0, 3, 15, 7])
  variables = net.init(jax.random.key(1), pts, labels, train=False)
  chex.assert_shape(variables['params']['classifier']['kernel'], (1024 + 16 + 64 + 128, 50))
  logits, updates = net.apply(variables, pts, labels, train=True, mutable=['batch_stats'])
  chex.assert_shape(logits, (4, 32, 50))
  # Training mode updates running statistics with momentum 0.1 (PyTorch's default).
  conv1 = pts @ variables['params']['conv1']['kernel'] + variables['params']['conv1']['bias']
  np.testing.assert_allclose(np.asarray(updates['batch_stats']['bn1']['mean']),
                             0.1 * np.asarray(conv1.mean(axis=(0, 1))), rtol=1e-4, atol=1e-6)
  eval_logits = net.apply(variables, pts, labels, train=False)
  chex.assert_shape(eval_logits, (4, 32, 50))
  # The shape class is an input: changing it changes every point's logits.
  other = net.apply(variables, pts, jnp.array([1, 3, 15, 7]), train=False)
  assert not np.allclose(other[0], eval_logits[0]) and np.allclose(other[1:], eval_logits[1:])


def test_classifier_traces_once():
  clf = models.make_network('pointnet', 3, rotator.SignRotator())

  @jax.jit
  @chex.assert_max_traces(n=1)
  def f(params, x):
    return clf.logits(params, x)

  params = clf.init(jax.random.key(0))
  for seed in range(3):
    f(params, jax.random.normal(jax.random.key(seed), (2, 32, 3)))


@pytest.mark.parametrize('n', [50, 12])  # N > 2K: the moment path; N <= 2K: structured vjp
def test_instance_norm_max_equals_the_plain_layer_to_second_order(n):
  def plain(x, k, b):  # op by op on purpose: see below
    return pointnet.instance_norm(x @ k + b).max(axis=-2)

  # Jitted, this reference's second derivative comes out wrong on XLA:CPU (by up to 3.8
  # at LLVM levels 1 and 2, NaN at 0; right at 3 and op by op): max's derivative marks
  # the points equal to the max, which a fused recomputation need not reproduce bit for
  # bit. The layer under test picks the winner once (argmax) and is exact jitted too.
  with jax.enable_x64(True):
    keys = jax.random.split(jax.random.key(0), 4)
    x = jax.random.normal(keys[0], (3, n, 8), jnp.float64)
    k = jax.random.normal(keys[1], (8, 16), jnp.float64)
    b = jax.random.normal(keys[2], (16,), jnp.float64)
    g = jax.random.normal(keys[3], (3, 16), jnp.float64)
    np.testing.assert_allclose(pointnet.instance_norm_max(x, k, b), plain(x, k, b), atol=1e-12)

    def first(f):
      return jax.grad(lambda *a: jnp.sum(f(*a) * g), argnums=(0, 1, 2))(x, k, b)

    for ours, ref in zip(first(pointnet.instance_norm_max), first(plain)):
      np.testing.assert_allclose(ours, ref, atol=1e-12)

    def second(f):  # a gradient of a gradient, as gradient matching takes it
      inner = lambda x: jax.grad(lambda k: jnp.sum(jnp.sin(f(x, k, b)) * g))(k)
      return jax.grad(lambda x: jnp.sum(inner(x) ** 2))(x)

    np.testing.assert_allclose(second(pointnet.instance_norm_max), second(plain), atol=1e-11)


@pytest.mark.parametrize('shape', [(2, 70, 5), (1, 64, 3), (3, 7, 4)])
def test_argmax_points_equals_argmax_with_ties(shape):
  y = jax.random.normal(jax.random.key(0), shape)
  y = y.at[..., shape[-2] // 2, :].set(10.0).at[..., -1, :].set(10.0)  # tied maxima
  np.testing.assert_array_equal(pointnet.argmax_points(y, block=8), jnp.argmax(y, axis=-2))
