"""The common test suite of a classification backbone (a `dd3d_jax.models` plug-in).

A backbone's test module imports these tests and defines the `backbone` fixture:

    from tests.models.backbone_suite import *  # noqa: F401,F403  (the common tests)

    @pytest.fixture(scope='module')
    def backbone():
      return 'pointnet2', dict(...), True   # name, `make` overrides that keep it tiny,
                                            # whether it has dropout

The network is compiled once per module (shared fixture). Clouds have 16 points, fewer
than any neighbourhood of the tiny configurations, so that farthest point sampling
takes every point and a neighbourhood holds every point within reach: then the
output cannot depend on the order of the points after the first (FPS starts at
point 0, as in every reference implementation).
"""

import types

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dd3d_jax import registry
from dd3d_jax.models import Network

__all__ = ['net', 'test_is_registered_and_gives_logits_and_features',
           'test_output_does_not_depend_on_point_order', 'test_traced_once',
           'test_train_mode_updates_state_and_eval_mode_does_not',
           'test_dropout_draws_from_its_key', 'test_training_without_a_key_drops_nothing',
           'test_a_few_steps_lower_the_loss']

K, B, N = 5, 4, 16


@pytest.fixture(scope='module')
def net(backbone):
  name, overrides, dropout = backbone
  module = registry.get('networks', name)
  network = Network(module.make(K, **overrides))
  variables = jax.jit(network.init)(jax.random.key(0))  # compiled: faster than eager
  traces = []

  def apply(variables, points, train, key):
    traces.append(train)
    return network.apply(variables, points, train=train, key=key)

  points = jax.random.normal(jax.random.key(1), (B, N, 3))
  return types.SimpleNamespace(name=name, dropout=dropout, network=network,
                               variables=variables,
                               apply=jax.jit(apply, static_argnames='train'), traces=traces,
                               points=points / jnp.linalg.norm(points, axis=-1).max())


def test_is_registered_and_gives_logits_and_features(net):
  assert net.name in registry.names('networks')
  logits, _ = net.apply(net.variables, net.points, False, None)
  features = jax.jit(net.network.embed)(net.variables, net.points)
  assert logits.shape == (B, K) and features.ndim == 2 and features.shape[0] == B
  assert jnp.isfinite(logits).all() and jnp.isfinite(features).all()


def test_output_does_not_depend_on_point_order(net):
  perm = np.concatenate([[0], 1 + np.random.default_rng(0).permutation(N - 1)])
  a, _ = net.apply(net.variables, net.points, False, None)
  b, _ = net.apply(net.variables, net.points[:, perm], False, None)
  np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_traced_once(net):
  net.apply(net.variables, net.points, False, None)
  before = len(net.traces)
  for scale in (0.5, 2.0):
    net.apply(net.variables, net.points * scale, False, None)
  assert len(net.traces) == before


def test_train_mode_updates_state_and_eval_mode_does_not(net):
  state = {k: v for k, v in net.variables.items() if k != 'params'}
  _, after_eval = net.apply(net.variables, net.points, False, None)
  _, after_train = net.apply(net.variables, net.points, True, jax.random.key(2))
  jax.tree.map(np.testing.assert_array_equal, after_eval, state)
  if state:
    changed = jax.tree.leaves(jax.tree.map(lambda a, b: bool((a != b).any()), after_train, state))
    assert any(changed)


def test_dropout_draws_from_its_key(net):
  a, _ = net.apply(net.variables, net.points, True, jax.random.key(3))
  b, _ = net.apply(net.variables, net.points, True, jax.random.key(3))
  c, _ = net.apply(net.variables, net.points, True, jax.random.key(4))
  np.testing.assert_array_equal(a, b)
  assert np.allclose(a, c) != net.dropout


def test_training_without_a_key_drops_nothing(net):
  """As gradient matching applies a network: batch statistics, no dropout key."""
  a, _ = net.apply(net.variables, net.points, True, None)
  b, _ = net.apply(net.variables, net.points, True, None)
  np.testing.assert_array_equal(a, b)
  assert jnp.isfinite(a).all()


def test_a_few_steps_lower_the_loss(net):
  labels = jnp.arange(B) % K
  tx = optax.adam(1e-3)

  def loss_fn(params, variables, key):
    logits, state = net.network.apply({**variables, 'params': params}, net.points, train=True,
                                         key=key)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), state

  @jax.jit
  def step(variables, opt_state, key):
    (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(variables['params'],
                                                                     variables, key)
    updates, opt_state = tx.update(grads, opt_state, variables['params'])
    return {**state, 'params': optax.apply_updates(variables['params'], updates)}, opt_state, loss

  variables, opt_state = net.variables, tx.init(net.variables['params'])
  losses = []
  for i in range(8):
    variables, opt_state, loss = step(variables, opt_state, jax.random.key(5))
    losses.append(float(loss))
  assert losses[-1] < losses[0], losses
