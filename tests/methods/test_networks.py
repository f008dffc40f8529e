"""dd3d_jax.methods._networks: a set matched under several networks, one per step in turn."""

import copy
import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dd3d_jax import config as config_lib
from dd3d_jax import methods, registry
from dd3d_jax.errors import ConfigError
from dd3d_jax.methods._networks import InTurn
from dd3d_jax.models import make_network
from tests.methods.test_methods import tiny_setup


def built(name, networks):
  c, context, real = tiny_setup()
  c = copy.deepcopy(c)
  c.methods[name].networks = networks
  settings = config_lib.method_settings(c, name)
  k = context.dataset.num_classes
  return methods.build(name, settings, context, lambda arch: make_network(arch, k)), context, real


def test_no_networks_is_the_method_and_one_is_the_method_with_that_network():
  _, context, _ = tiny_setup()
  c = tiny_setup()[0]
  plain = registry.get('methods', 'dm').from_config(config_lib.method_settings(c, 'dm'), context)
  assert built('dm', None)[0] == plain
  one = built('dm', 'dgcnn')[0]
  assert one.network == make_network('dgcnn', context.dataset.num_classes)
  assert one == registry.get('methods', 'dm').from_config(
      config_lib.method_settings(c, 'dm'), context._replace(network=one.network))
  assert built('random', 'pointnet,dgcnn')[0].num_steps == 0  # a selection, as it is


@dataclasses.dataclass(frozen=True)
class Counter:
  """A toy method whose step adds its own `offset` to the state and counts the step."""
  offset: float
  num_steps: int = 5

  def init(self, key, real):
    return Toy(iteration=jnp.zeros((), jnp.int32), value=jnp.zeros(()))

  def step(self, state, inputs):
    return Toy(state.iteration + 1, state.value * 10 + self.offset + inputs), {'loss': inputs}


class Toy(NamedTuple):
  iteration: jax.Array
  value: jax.Array


def test_step_i_is_the_step_of_member_i_mod_n_with_its_own_inputs():
  method = InTurn((Counter(1.), Counter(2.), Counter(3.)))
  assert method.inputs(None) == (None, None, None) and method.num_steps == 5
  state = method.init(jax.random.key(0), None)
  step = jax.jit(method.step)
  for _ in range(4):
    state, metrics = step(state, (0., 0.5, 0.))
  assert int(state.iteration) == 4
  np.testing.assert_allclose(state.value, 1281., rtol=1e-6)  # +1, +2.5, +3, +1 in turn
  assert float(metrics['loss']) == 0.


@pytest.mark.slow  # compiles GM's and DM's steps under two networks
@pytest.mark.parametrize('name', ['dm', 'gm'])
def test_a_real_method_in_turn_steps_as_its_members(name):
  method, context, real = built(name, 'pointnet,pointnet_tnet')
  assert isinstance(method, InTurn) and len(method.members) == 2
  inputs = methods.step_inputs(method, real)
  state = method.init(jax.random.key(0), real)
  for i in range(3):
    got, metrics = jax.jit(method.step)(state, inputs)
    want, want_metrics = jax.jit(method.members[i % 2].step)(state, real)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(metrics['loss'], want_metrics['loss'], rtol=1e-6)
    state = got


def test_members_are_the_method_under_each_network_in_order():
  method, context, _ = built('dm', 'pointnet_tnet,pointnet')
  k = context.dataset.num_classes
  assert [m.network for m in method.members] == [make_network(a, k)
                                                 for a in ('pointnet_tnet', 'pointnet')]


def test_networks_are_checked_by_name_and_once_each():
  c = copy.deepcopy(tiny_setup()[0])
  c.eval.methods = 'dm'
  c.methods.dm.networks = 'pointnet,pointnot'
  with pytest.raises(ConfigError, match='methods.dm.networks'):
    config_lib.validate(c)
  c.methods.dm.networks = 'pointnet,pointnet'
  with pytest.raises(ConfigError, match='names a network twice'):
    config_lib.validate(c)
  c.methods.dm.networks, c.distill.networks = None, 'dgcnn,pointnet'
  config_lib.validate(c)
  assert config_lib.distill_networks(config_lib.method_settings(c, 'dm')) == ('dgcnn', 'pointnet')
