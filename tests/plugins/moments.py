"""A toy objective: each class's synthetic clouds are pulled towards the first and second
moments of a real batch of the class (the mean point and the mean of x x^T), with
`moment_weight` on the second. No network: a set of matched moments, the smallest thing
that is a distillation objective.

`methods.dd3d.objective = 'tests.plugins.moments'` trains DD3D's generator by it; the
entry may set `moment_weight`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax

from dd3d_jax import distill, fields
from dd3d_jax import generator as gen_lib
from dd3d_jax.methods import SmallSet, export_clouds

OBJECTIVE_DEFAULTS = {'moment_weight': 1.0}
OBJECTIVE_FIELDS = {'moment_weight': fields.NON_NEGATIVE}


def moments(points: jax.Array, weights: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Weighted first and second moments of clouds [B, N, 3] (weights [B], sum 1):
  ([3], [3, 3])."""
  first = jnp.einsum('b,bnc->c', weights, points) / points.shape[1]
  second = jnp.einsum('b,bnc,bnd->cd', weights, points, points) / points.shape[1]
  return first, second


def moment_loss(real: jax.Array, weights: jax.Array, syn: jax.Array,
                weight: float) -> jax.Array:
  """|m1(real) - m1(syn)|^2 + weight |m2(real) - m2(syn)|^2 for one class."""
  r1, r2 = moments(real, weights)
  s1, s2 = moments(syn, jnp.full(syn.shape[0], 1 / syn.shape[0]))
  return jnp.sum(jnp.square(r1 - s1)) + weight * jnp.sum(jnp.square(r2 - s2))


@dataclasses.dataclass(frozen=True)
class MomentMatching:
  synthesizer: Any
  num_classes: int
  cpc: int
  train_points: int
  batch_real: int
  iterations: int
  lr: float
  weight: float
  initial: Any = dataclasses.field(compare=False, hash=False, default=None)
  writes_set = True

  @property
  def num_steps(self) -> int:
    return self.iterations

  def init(self, key: jax.Array, real: distill.RealData) -> distill.DistillState:
    del real
    return distill.DistillState.start(self.initial(key), optax.adam(self.lr),
                                      jax.random.fold_in(key, 2))

  def step(self, state: distill.DistillState, real: distill.RealData):
    k_pick, k_sub, k_noise = jax.random.split(state.step_key(), 3)
    batch, _, weights = distill.sample_real(k_pick, k_sub, real, self.batch_real,
                                            self.train_points)
    noise = gen_lib.sample_noise(k_noise, self.num_classes * self.cpc, self.train_points,
                                 self.synthesizer.noise_dim)

    def loss(params):
      syn = self.synthesizer.generate(params, noise).reshape(
          self.num_classes, self.cpc, self.train_points, 3)
      return jax.vmap(moment_loss, (0, 0, 0, None))(batch, weights, syn, self.weight).sum()

    value, grads = jax.value_and_grad(loss)(state.gen_params)
    updates, opt_state = optax.adam(self.lr).update(grads, state.opt_state, state.gen_params)
    return (state.replace(gen_params=optax.apply_updates(state.gen_params, updates),
                          opt_state=opt_state, iteration=state.iteration + 1),
            {'loss': value / self.num_classes})

  def export(self, state: distill.DistillState, key: jax.Array, num_points: int) -> SmallSet:
    return export_clouds(lambda noise: self.synthesizer.generate(state.gen_params, noise), key,
                         self.num_classes, self.cpc,
                         self.synthesizer.resolution or num_points, self.synthesizer.noise_dim)


def trainer(settings, context, synth, initial) -> MomentMatching:
  return MomentMatching(synth, context.dataset.num_classes, context.cpc, settings.train_points,
                        min(settings.batch_real, len(context.dataset.train)),
                        settings.iterations, settings.lr, settings.moment_weight, initial)
