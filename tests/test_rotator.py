"""Sign canonicalisation: invariance to axis flips and, after PCA, to rotations."""

import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dd3d_jax import geometry, rotator
from tests.test_geometry import anisotropic_cloud

FLIPS = [jnp.asarray(s, jnp.float32) for s in itertools.product([1, -1], repeat=3)]
ROTATORS = [rotator.SignRotator(w0=1.0), rotator.SignRotator(w0=10.0),
            rotator.LearnableSignRotator(num_frequencies=4)]


def test_fixed_rotator_matches_reference_formula():
  pts = np.random.default_rng(0).normal(size=(3, 50, 3)).astype(np.float32)
  ref = pts * np.sign(np.sin(pts).mean(axis=1, keepdims=True))
  np.testing.assert_allclose(np.asarray(rotator.sign_canonicalize(jnp.asarray(pts))), ref)


@pytest.mark.parametrize('rot', ROTATORS, ids=repr)
def test_output_is_invariant_to_all_8_axis_sign_flips(rot):
  params = rot.init(jax.random.key(0))
  pts = anisotropic_cloud(jax.random.key(1), batch=(4,), n=128)
  ref = rot.apply(params, pts)
  for flip in FLIPS:
    np.testing.assert_allclose(np.asarray(rot.apply(params, pts * flip)), np.asarray(ref),
                               atol=1e-6)


@pytest.mark.parametrize('rot', ROTATORS, ids=repr)
def test_pca_then_rotator_is_rotation_invariant(rot):
  params = rot.init(jax.random.key(0))
  pts = geometry.normalize_to_unit_sphere(anisotropic_cloud(jax.random.key(2), n=512))

  def canonical(p):
    return rot.apply(params, geometry.pca_canonicalize(p)[0])

  ref = canonical(pts)
  for r in geometry.random_rotation(jax.random.key(3), (16,)):
    for flip in FLIPS:  # the input's own axis signs do not matter either
      np.testing.assert_allclose(np.asarray(canonical((pts * flip) @ r)), np.asarray(ref),
                                 atol=1e-4)


def test_learnable_rotator_starts_as_the_fixed_one_and_stays_sign_invariant():
  rot = rotator.LearnableSignRotator(num_frequencies=6, w0=1.0)
  pts = anisotropic_cloud(jax.random.key(4), batch=(3,), n=64)
  params = rot.init(jax.random.key(0))
  np.testing.assert_allclose(np.asarray(rot.apply(params, pts)),
                             np.asarray(rotator.sign_canonicalize(pts)), atol=1e-6)
  random_params = {'decoder': jax.random.normal(jax.random.key(5), (6,))}
  ref = rot.apply(random_params, pts)
  for flip in FLIPS:
    np.testing.assert_allclose(np.asarray(rot.apply(random_params, pts * flip)), np.asarray(ref),
                               atol=1e-6)


def test_learnable_rotator_has_a_usable_gradient():
  rot = rotator.LearnableSignRotator(num_frequencies=4, tau=0.1)
  pts = anisotropic_cloud(jax.random.key(6), batch=(8,), n=64) * 0.3
  params = rot.init(jax.random.key(0))
  target = jax.random.normal(jax.random.key(7), pts.shape)

  def loss(p, x):
    return jnp.sum(rot.apply(p, x) * target)

  g_params, g_points = jax.grad(loss, argnums=(0, 1))(params, pts)
  assert np.all(np.isfinite(g_params['decoder'])) and np.abs(g_params['decoder']).sum() > 0
  # The surrogate feeds the decoder only: the points see the exact sign, as with SignRotator.
  signs = jnp.sign(rot.statistic(params, pts))
  np.testing.assert_allclose(np.asarray(g_points), np.asarray(target * signs), atol=1e-6)


def test_make_rotator():
  assert rotator.make_rotator('fixed', w0=10.0) == rotator.SignRotator(10.0)
  assert isinstance(rotator.make_rotator('learnable'), rotator.LearnableSignRotator)
  pts = jnp.ones((2, 4, 3))
  assert rotator.make_rotator('none').apply({}, pts) is pts
  with pytest.raises(ValueError, match="rotator kind 'pca' is unknown"):
    rotator.make_rotator('pca')


def test_rotators_trace_once():
  rot = rotator.LearnableSignRotator()

  @jax.jit
  @chex.assert_max_traces(n=1)
  def f(params, x):
    return rot.apply(params, x), rotator.sign_canonicalize(x)

  params = rot.init(jax.random.key(0))
  for seed in range(3):
    f(params, jax.random.normal(jax.random.key(seed), (2, 32, 3)))
