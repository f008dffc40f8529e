"""The modulated SIREN: any resolution, point-wise, exact init; noise -> part labels."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dd3d_jax import generator as gen


@pytest.fixture(scope='module')
def model():
  module = gen.ModulatedSiren(num_classes=3, cpc=2, w0_initial=100.0)
  return module, gen.init_params(module, jax.random.key(0))


@pytest.mark.parametrize('num_points', [1, 256, 1024, 2048])
def test_emits_any_resolution(model, num_points):
  module, params = model
  noise = gen.sample_noise(jax.random.key(1), 4, num_points)
  out = gen.generate(module, params, noise, jnp.array([0, 1, 4, 5]))
  chex.assert_shape(out, (4, num_points, 3))
  assert np.all(np.abs(np.asarray(out)) < 1.0)


def test_points_depend_only_on_their_own_noise(model):
  # f(concat(u1, u2)) == concat(f(u1), f(u2)): what makes resolution free.
  module, params = model
  u1 = gen.sample_noise(jax.random.key(2), 2, 256)
  u2 = gen.sample_noise(jax.random.key(3), 2, 768)
  idx = jnp.array([2, 3])
  joint = gen.generate(module, params, jnp.concatenate([u1, u2], axis=1), idx)
  split = jnp.concatenate([gen.generate(module, params, u1, idx),
                           gen.generate(module, params, u2, idx)], axis=1)
  np.testing.assert_allclose(np.asarray(joint), np.asarray(split), atol=1e-6)


def test_two_noise_values_per_point_make_a_surface_not_a_curve():
  """noise_dim 1 (the paper's) traces a curve: points with nearby noise are nearby, so
  sorting the cloud by its noise leaves steps far shorter than the cloud's nearest-point
  gaps would allow a surface; with noise_dim 2 a cloud of the same size spreads in two
  directions: its points' neighbours in space are not its neighbours in the first noise
  value."""
  def spread(noise_dim):
    module = gen.ModulatedSiren(num_classes=1, cpc=1, w0_initial=30.0, hidden=64,
                                noise_dim=noise_dim)
    params = gen.init_params(module, jax.random.key(0))
    noise = gen.sample_noise(jax.random.key(1), 1, 512, noise_dim)
    points = np.asarray(gen.generate(module, params, noise, jnp.array([0])))[0]
    nearest = np.argsort(((points[:, None] - points[None]) ** 2).sum(-1), axis=1)[:, 1]
    u = np.asarray(noise)[0, :, 0]
    return np.median(np.abs(u - u[nearest]))  # noise gap to the nearest point in space

  chex.assert_shape(gen.init_params(gen.ModulatedSiren(1, 1, 30.0, noise_dim=2),
                                    jax.random.key(0))['sine_0']['kernel'], (2, 256))
  assert spread(1) < 0.01 < spread(2)


def test_each_embedding_row_is_its_own_cloud(model):
  module, params = model
  noise = jnp.tile(gen.sample_noise(jax.random.key(4), 1, 128), (6, 1, 1))
  out = np.asarray(gen.generate(module, params, noise, jnp.arange(6)))
  assert all(not np.allclose(out[i], out[j]) for i in range(6) for j in range(i))


def test_initialisation_matches_reference(model):
  module, params = model
  chex.assert_shape(params['embedding'], (6, 256))
  assert abs(float(params['embedding'].std()) - 1.0) < 0.05
  bounds = {  # (kernel, bias) bounds from the authors' CINR.py
      'sine_0': 1.0,                                # 1 / fan_in, fan_in = 1
      'sine_1': math.sqrt(6 / 256) / 1.0,           # sqrt(6 / fan_in) / w0
      'mod_0': 1 / math.sqrt(256),                  # PyTorch Linear default
  }
  for name, bound in bounds.items():
    for leaf in params[name].values():
      a = np.abs(np.asarray(leaf))
      assert a.max() <= bound and a.max() > 0.9 * bound, name
  assert set(params['out']) == {'kernel'}          # bias-free output layer
  out = np.abs(np.asarray(params['out']['kernel']))
  assert out.max() <= math.sqrt(6 / 256) and params['out']['kernel'].shape == (256, 3)


def test_synthetic_labels_are_class_major():
  np.testing.assert_array_equal(gen.synthetic_labels(3, 2), [0, 0, 1, 1, 2, 2])


def test_part_labels_follow_proportions():
  proportions = jnp.array([[0.4508, 0.3264, 0.1274, 0.0955],   # airplane
                           [0.0671, 0.9329, 0.0, 0.0]])        # bag, zero-padded
  noise = gen.sample_noise(jax.random.key(5), 2, 200_000)
  labels = np.asarray(gen.part_labels(noise, proportions))
  chex.assert_shape(labels, (2, 200_000))
  for row, p in zip(labels, np.asarray(proportions)):
    freq = np.bincount(row, minlength=4) / row.size
    np.testing.assert_allclose(freq, p, atol=0.005)
  assert labels[1].max() == 1  # padded parts never chosen


def test_part_labels_interval_boundaries():
  props = jnp.array([0.25, 0.5, 0.25])
  u = jnp.array([0.0, 0.25, 0.2500001, 0.75, 0.76, 0.9999999])
  np.testing.assert_array_equal(gen.part_labels(u, props), [0, 0, 1, 1, 2, 2])
  # Proportions summing to slightly under 1 still map the top of the range to the last part.
  np.testing.assert_array_equal(gen.part_labels(jnp.array([0.99995]), jnp.array([0.5, 0.4999])),
                                [1])


def test_generator_traces_once(model):
  module, params = model

  @jax.jit
  @chex.assert_max_traces(n=1)
  def f(params, key):
    noise = gen.sample_noise(key, 6, 64)
    return gen.generate(module, params, noise, jnp.arange(6))

  for seed in range(3):
    f(params, jax.random.key(seed))
