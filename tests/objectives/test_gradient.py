"""Gradient matching: parity with a plain NumPy reference, and a checked second-order gradient."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dd3d_jax import generator as gen
from dd3d_jax import models
from dd3d_jax.objectives import gradient


def numpy_reference(g_real, g_syn, metric):
  """The authors' match_loss, in NumPy, on PyTorch-layout tensors (rows = output units)."""
  def torch_layout(x):  # Flax (..., in, out) -> PyTorch (out, in, ...)
    return np.moveaxis(np.asarray(x, np.float64), -1, 0)

  real = [torch_layout(x) for x in jax.tree.leaves(g_real)]
  syn = [torch_layout(x) for x in jax.tree.leaves(g_syn)]
  if metric == 'ours':
    total = 0.0
    for r, s in zip(real, syn):
      if r.ndim == 1:
        continue
      r, s = r.reshape(r.shape[0], -1), s.reshape(s.shape[0], -1)
      total += np.sum(1 - np.sum(r * s, -1) /
                      (np.linalg.norm(r, axis=-1) * np.linalg.norm(s, axis=-1) + 1e-6))
    return total
  r = np.concatenate([x.ravel() for x in real])
  s = np.concatenate([x.ravel() for x in syn])
  if metric == 'mse':
    return np.sum((s - r) ** 2)
  return 1 - np.sum(r * s) / (np.linalg.norm(r) * np.linalg.norm(s) + 1e-6)


def random_tree(key):
  ks = jax.random.split(key, 5)
  return {'conv': {'kernel': jax.random.normal(ks[0], (3, 64)), 'bias': jax.random.normal(ks[1], (64,))},
          'conv4d': jax.random.normal(ks[2], (2, 2, 5, 7)),
          'head': [jax.random.normal(ks[3], (64, 10)), jax.random.normal(ks[4], (10,))]}


@pytest.mark.parametrize('metric', gradient.METRICS)
def test_match_distance_equals_numpy(metric):
  g_real, g_syn = random_tree(jax.random.key(0)), random_tree(jax.random.key(1))
  np.testing.assert_allclose(float(jax.jit(gradient.match_distance, static_argnums=2)(
      g_real, g_syn, metric)), numpy_reference(g_real, g_syn, metric), rtol=1e-5)


def test_ours_ignores_1d_leaves_and_counts_rows():
  g_real, g_syn = random_tree(jax.random.key(0)), random_tree(jax.random.key(1))
  moved = jax.tree.map(lambda x: x * 7.0 + 3.0 if x.ndim == 1 else x, g_syn)
  assert float(gradient.match_distance(g_real, g_syn)) == float(gradient.match_distance(g_real, moved))
  # Opposite gradients: every output row contributes ~2.
  neg = jax.tree.map(lambda x: -x, g_real)
  np.testing.assert_allclose(float(gradient.match_distance(g_real, neg)), 2 * (64 + 7 + 10),
                             rtol=1e-5)


@pytest.mark.parametrize('metric', gradient.METRICS)
def test_identical_gradients_are_at_distance_zero(metric):
  g = random_tree(jax.random.key(2))
  assert abs(float(gradient.match_distance(g, g, metric))) < 1e-4


def test_match_distance_errors():
  g = random_tree(jax.random.key(0))
  with pytest.raises(ValueError, match='differ in structure'):
    gradient.match_distance(g, {'conv': g['conv']})
  with pytest.raises(ValueError, match="unknown matching metric 'l1'"):
    gradient.match_distance(g, g, 'l1')


def test_zero_gradient_row_has_finite_second_order_gradient():
  g_real = {'w': jnp.ones((4, 3))}

  def loss(scale):
    return gradient.match_distance(g_real, {'w': jnp.ones((4, 3)).at[:, 0].set(0.0) * scale})

  assert np.isfinite(float(jax.grad(loss)(0.0)))


def tiny_problem(dtype):
  """A GM loss of one class with a small generator and the reference PointNet."""
  module = gen.ModulatedSiren(num_classes=2, cpc=2, w0_initial=30.0, hidden=16)
  clf = models.make_network('pointnet', 2)
  cast = functools.partial(jax.tree.map, lambda x: x.astype(dtype))
  gen_params = cast(gen.init_params(module, jax.random.key(0)))
  net_params = cast(clf.init(jax.random.key(1)))
  real = jax.random.uniform(jax.random.key(2), (4, 16, 3), dtype, -1, 1)
  noise = gen.sample_noise(jax.random.key(3), 2, 16).astype(dtype)
  loss = functools.partial(
      gradient.gm_loss, net_params=net_params, real_points=real, real_labels=jnp.ones(4, int),
      noise=noise, syn_indices=jnp.array([2, 3]), syn_labels=jnp.array([1, 1]),
      gen_apply=functools.partial(gen.generate, module), net_apply=clf.logits)
  return loss, gen_params


def test_gm_loss_gradient_matches_central_differences_in_float64():
  # The GM loss is only piecewise smooth: ReLU masks and max-pool winners inside the
  # network's gradient switch at kinks, where a difference quotient jumps. Steps are
  # small and the median of three step sizes is compared, so a rare kink between
  # p - eps d and p + eps d cannot decide the test.
  with jax.enable_x64(True):
    loss, params = tiny_problem(jnp.float64)
    grad = jax.tree.map(np.asarray, jax.jit(jax.grad(loss))(params))
    loss = jax.jit(loss)
    params = jax.tree.map(np.asarray, params)  # the steps in NumPy: no op-by-op compiles
    leaves, treedef = jax.tree.flatten(params)
    for seed in range(4):
      rng = np.random.default_rng(seed)
      d = [rng.normal(size=x.shape) for x in leaves]
      norm = np.sqrt(sum(float(np.sum(x ** 2)) for x in d))
      direction = treedef.unflatten([x / norm for x in d])
      analytic = sum(float(np.vdot(g, x)) for g, x in
                     zip(jax.tree.leaves(grad), jax.tree.leaves(direction)))
      numeric = np.median([
          float(loss(jax.tree.map(lambda p, x: p + eps * x, params, direction)) -
                loss(jax.tree.map(lambda p, x: p - eps * x, params, direction))) / (2 * eps)
          for eps in (1e-6, 3e-7, 1e-7)])
      assert abs(numeric - analytic) <= 1e-5 * max(1.0, abs(analytic)), (seed, numeric, analytic)
    assert float(loss(params)) > 0


def test_gm_loss_gradient_traces_once():
  loss, params = tiny_problem(jnp.float32)

  @jax.jit
  @chex.assert_max_traces(n=1)
  def step(params):
    return jax.value_and_grad(loss)(params)

  for _ in range(3):
    value, grad = step(params)
    params = jax.tree.map(lambda p, g: p - 1e-3 * g, params, grad)
  assert np.isfinite(float(value))


def test_ours_floor_for_identical_rows_is_eps_over_norm_plus_eps():
  rows = jnp.array([[1e-3, 0.0], [0.0, 0.0], [3.0, 4.0]])    # |r|^2: 1e-6, 0, 25
  g = {'w': rows.T}                                          # Flax layout: rows on the last axis
  expected = sum(gradient.EPS / (n + gradient.EPS) for n in (1e-6, 0.0, 25.0))
  assert float(gradient.match_distance(g, g)) == pytest.approx(expected, rel=1e-5)


def test_network_gradient_takes_a_network_as_built():
  network = models.make_network('pointnet', 3)
  variables = network.init(jax.random.key(0))
  points = jax.random.normal(jax.random.key(1), (3, 32, 3))
  labels = jnp.arange(3)
  direct = jax.jit(functools.partial(gradient.network_gradient, network))(variables, points,
                                                                         labels)

  @jax.jit
  def adapted(variables, points, labels):  # a plain function of (params, points)
    adapter = lambda p, x: network.apply({**variables, 'params': p}, x, labels)[0]  # noqa: E731
    return gradient.network_gradient(adapter, variables['params'], points, labels)

  chex.assert_trees_all_close(direct, adapted(variables, points, labels))
