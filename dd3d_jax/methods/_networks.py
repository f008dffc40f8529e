"""A learned set distilled under several networks in turn (`networks`, off by default).

A set matched to one network's gradients or features need not train another (Table 3).
With `methods.NAME.networks = 'pointnet,dgcnn'` (or `distill.networks` for every method)
the method is built once per network, and its step i is the step of network i mod n: the
same set, optimiser and keys, only the network it is matched under changes from one step
to the next. With one name it is the method built with that network; an empty value is
`model.arch`. A method whose step needs inputs (TM's expert trajectories) gets those of
each network.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax

from dd3d_jax import config as config_lib
from dd3d_jax import registry
from dd3d_jax.methods import SmallSet, step_inputs


def iteration(state: Any) -> jax.Array:
  """The number of steps taken: the `DistillState`'s, also where the state keeps fixed
  targets beside it ((`DistillState`, targets))."""
  return state.iteration if hasattr(state, 'iteration') else state[0].iteration


@dataclasses.dataclass(frozen=True)
class InTurn:
  """The same method under each network of `members`, one per step in turn; a method
  itself (`dd3d_jax.methods`). Hashable (jit-static) when its members are.

  Attributes:
    members: the method built with each network, in the order of `networks`; each has the
      same set, state layout and number of steps.
  """
  members: tuple[Any, ...]
  writes_set = True

  @property
  def num_steps(self) -> int:
    return self.members[0].num_steps

  @property
  def mesh(self) -> Any:
    return getattr(self.members[0], 'mesh', None)

  def inputs(self, real: Any) -> tuple[Any, ...]:
    """What each member's step gets (`methods.step_inputs`), in member order."""
    return tuple(step_inputs(m, real) for m in self.members)

  def init(self, key: jax.Array, real: Any) -> Any:
    return self.members[0].init(key, real)

  def step(self, state: Any, inputs: tuple[Any, ...]) -> tuple[Any, dict]:
    """Member i mod n's step from `state` (i: the steps taken), given its own inputs."""
    branches = [lambda s, xs, i=i, m=m: m.step(s, xs[i]) for i, m in enumerate(self.members)]
    return jax.lax.switch(iteration(state) % len(self.members), branches, state, inputs)

  def export(self, state: Any, key: jax.Array, num_points: int) -> SmallSet:
    return self.members[0].export(state, key, num_points)


def build(kind: str, settings: Any, context: Any, network: Callable[[str], Any]) -> Any:
  """The method of type `kind` with its resolved `settings` (`config.method_settings`),
  under the networks its `networks` names (`network(name)` builds one): as `context` has
  it for none, with that network for one, `InTurn` over them for several (a selection,
  which learns nothing, as it is)."""
  make = registry.get('methods', kind).from_config
  names = config_lib.distill_networks(settings)
  if not names:
    return make(settings, context)
  members = tuple(make(settings, context._replace(network=network(n))) for n in names)
  if len(members) == 1 or members[0].num_steps == 0:
    return members[0]
  return InTurn(members)
