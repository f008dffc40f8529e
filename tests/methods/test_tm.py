"""Trajectory matching: the unroll's gradient, rematerialisation, experts and their cache."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dd3d_jax import config as config_lib
from dd3d_jax import geometry
from dd3d_jax.methods import tm
from dd3d_jax.models import make_network, state_of
from dd3d_jax.tasks.classification import Classification
from tests.methods.test_methods import build, tiny_setup

K, CPC, N = 3, 2, 16


def tiny_tm(**overrides) -> tm.TrajectoryMatching:
  fields = dict(network=make_network('pointnet', K), num_classes=K, cpc=CPC,
                train_points=N, iterations=2, syn_steps=2, batch_syn=4, expert_epochs=1,
                min_start_epoch=0, max_start_epoch=1, expert_lr=0.01, lr=1e-3, weight_decay=0.0,
                optimizer='adam', momentum=0.5, lr_lr=1e-5, augment=False, remat=True)
  return tm.TrajectoryMatching(**{**fields, **overrides})


def problem(dtype=jnp.float32):
  method = tiny_tm()
  k_set, k_net, k_target, k_unroll = jax.random.split(jax.random.key(0), 4)
  start = method.network.init(k_net)['params']
  leaves, treedef = jax.tree.flatten(start)
  noise = jax.random.split(k_target, len(leaves))
  target = jax.tree.unflatten(treedef, [x + 0.05 * jax.random.normal(k, x.shape)
                                        for x, k in zip(leaves, noise)])
  params = {'points': jax.random.uniform(k_set, (K * CPC, N, 3), minval=-1, maxval=1),
            'syn_lr': jnp.asarray(0.01)}
  cast = lambda tree: jax.tree.map(lambda x: x.astype(dtype), tree)  # noqa: E731
  return method, cast(params), cast(start), cast(target), k_unroll


def test_unroll_gradient_matches_finite_differences_in_float64():
  with jax.enable_x64(True):
    method, params, start, target, key = problem(jnp.float64)
    loss = jax.jit(lambda p: method.loss(p, start, target, {}, key))
    grads = jax.jit(jax.grad(loss))(params)
    rng = np.random.default_rng(0)
    direction = {'points': jnp.asarray(rng.normal(size=params['points'].shape)),
                 'syn_lr': jnp.asarray(rng.normal())}
    eps = 1e-6
    shifted = lambda s: jax.tree.map(lambda p, d: p + s * eps * d, params, direction)  # noqa: E731
    numeric = (loss(shifted(1)) - loss(shifted(-1))) / (2 * eps)
    analytic = sum(jnp.vdot(g, d) for g, d in zip(jax.tree.leaves(grads),
                                                  jax.tree.leaves(direction)))
    assert grads['points'].dtype == jnp.float64
    np.testing.assert_allclose(float(analytic), float(numeric), rtol=1e-6)
    assert float(jnp.abs(grads['syn_lr'])) > 0  # the step size is learned too


@pytest.mark.slow  # the unroll's gradient is checked against finite differences in the fast suite
def test_rematerialised_unroll_gives_the_same_gradient():
  method, params, start, target, key = problem()

  def grad(m):
    return jax.jit(jax.grad(lambda p: m.loss(p, start, target, {}, key)))(params)

  chex.assert_trees_all_close(grad(method), grad(tiny_tm(remat=False)), rtol=1e-5, atol=1e-7)


def test_unroll_of_zero_step_size_stays_at_the_start():
  method, params, start, target, key = problem()
  still = method.unroll({**params, 'syn_lr': jnp.asarray(0.0)}, start, {}, key)
  chex.assert_trees_all_equal(still, start)
  assert float(method.loss({**params, 'syn_lr': jnp.asarray(0.0)}, start, target, {}, key)) == 1.0


def test_student_sees_the_set_as_exported():
  # The student's steps are a function of the renormalised clouds (what `export` writes),
  # so moving points in a way the exported set does not show cannot change them.
  method, params, start, target, key = problem()
  # a scale and shift per cloud (one for all would pass the first BatchNorm unseen)
  scale = jnp.arange(1.0, K * CPC + 1)[:, None, None]
  shift = jax.random.normal(jax.random.key(1), (K * CPC, 1, 3))
  moved = {**params, 'points': scale * params['points'] + shift}
  step = lambda p: jax.tree.map(jnp.subtract, method.unroll(p, start, {}, key), start)  # noqa: E731
  chex.assert_trees_all_close(step(moved), step(params), rtol=1e-3, atol=1e-7)


@pytest.mark.parametrize('min_start,poisoned_loss', [(2, False), (0, True)])
def test_start_epochs_stay_in_their_window(min_start, poisoned_loss):
  # The experts' epochs before 2 are NaN: a student that started there has a NaN loss.
  method = tiny_tm(min_start_epoch=min_start, max_start_epoch=3, initial=lambda key: {
      'points': jax.random.uniform(key, (K * CPC, N, 3), minval=-1, maxval=1)})
  net = method.network.init(jax.random.key(0))
  epochs = method.max_start_epoch + method.expert_epochs + 1
  params = jax.tree.map(lambda x: jnp.stack([x + 0.01 * t for t in range(epochs)]),
                        net['params'])
  experts = {'params': jax.tree.map(lambda x: jnp.stack([x, x]).at[:, :2].set(jnp.nan), params),
             'state': state_of(net)}
  state, step, losses = method.init(jax.random.key(1), None), jax.jit(method.step), []
  for _ in range(6):
    state, metrics = step(state, experts)
    losses.append(float(metrics['loss']))
  assert np.isnan(losses).any() == poisoned_loss


def test_expert_trajectory_starts_at_the_init_and_lowers_the_loss():
  network = make_network('pointnet', K)
  rng = np.random.default_rng(0)
  labels = jnp.asarray(np.repeat(np.arange(K), 4))
  points = geometry.normalize_to_unit_sphere(jnp.asarray(
      rng.normal(size=(len(labels), 24, 3)) * (1 + np.asarray(labels)[:, None, None])))
  key = jax.random.key(3)
  params, losses = jax.jit(lambda k: tm.train_expert(
      network, Classification(K), points, labels, k, epochs=6, lr=1e-3, batch_size=4,
      train_points=N, augment=False))(key)
  init = network.init(jax.random.split(key)[0])['params']
  chex.assert_trees_all_equal(jax.tree.map(lambda x: x[0], params), init)
  assert jax.tree.leaves(params)[0].shape[0] == 7 and losses.shape == (6,)
  assert float(losses[-1]) < float(losses[0])


def test_experts_are_computed_once_and_read_from_the_cache():
  _, context, _ = build('tm')
  stored, made = {}, []

  def cache(path, make):
    if path not in stored:
      made.append(path)
      stored[path] = make()
    return stored[path]

  settings = config_lib.method_settings(tiny_setup()[0], 'tm')
  first = tm.experts_fn(settings, context._replace(cache=cache))()
  again = tm.experts_fn(settings, context._replace(cache=cache))()
  assert len(made) == settings.num_experts and len(stored) == settings.num_experts
  chex.assert_trees_all_equal(first, again)
  t = settings.max_start_epoch + settings.expert_epochs + 1
  assert all(x.shape[:2] == (settings.num_experts, t) for x in jax.tree.leaves(first['params']))
  other = settings.copy_and_resolve_references()
  other.expert_lr = 0.02
  assert tm.fingerprint(other, context) != tm.fingerprint(settings, context)
