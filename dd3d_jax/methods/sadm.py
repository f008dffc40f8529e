"""`sadm`: sorted-feature distribution matching with learnable rotations (Yim, Kim & Sim,
NeurIPS 2025), after `main.py` of donguk071/SADM (commit 036cb97).

The set is a [K * cpc, train_points, 3] tensor initialised from real clouds (those of
the random coreset with the same distillation index) and one rotation per cloud (Euler
angles x, y, z from 0, wrapped to [-pi, pi); a cloud is used as p @ Rz Ry Rx). Each
iteration draws a fresh, untrained original PointNet (`models.pointnet_tnet`, BatchNorm),
sets its BatchNorm statistics from 8 real clouds per class (one training-mode pass, then
frozen, DC's BN trick) and, for every class, compares a real batch with the class's
rotated synthetic clouds by SADM's objective (`objectives.sorted.sadm_loss`: sorted
point-wise features and an RBF MMD of global features), times cpc, summed over classes.
SGD with momentum updates the points (lr 10) and the angles (lr_rot for y, lr_rot / 10
for x and z). Settings: `iterations` (1,500), `lr`, `lr_rot`, `momentum` (0.5),
`batch_real` (8), `sorted_weight` (0.2), `mmd_weight` (0.001). Exported: the rotated
clouds, renormalised to the unit sphere as every tensor method's set.

The set can be any `synthetic` set: `methods.dd3d.objective='sadm'` trains DD3D's
generator (its clouds drawn with fresh noise each step, Adam at the `distill` learning
rate) with this objective and the rotations.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from dd3d_jax import devices, distill, fields, synthetic, training
from dd3d_jax import generator as gen_lib
from dd3d_jax.methods import SmallSet, export_clouds, set_memory
from dd3d_jax.methods._matching import INITS, tensor_start
from dd3d_jax.models import pointnet_tnet
from dd3d_jax.objectives.sorted import sadm_loss

BN_CLOUDS = 8  # real clouds per class that set the BatchNorm statistics (the reference's)


def rotation_matrices(angles: jax.Array) -> jax.Array:
  """Rz @ Ry @ Rx of each cloud's Euler angles. angles: [M, 3] (x, y, z) -> [M, 3, 3]."""
  c, s = jnp.cos(angles), jnp.sin(angles)
  one, zero = jnp.ones_like(c[:, 0]), jnp.zeros_like(c[:, 0])
  rx = jnp.stack([one, zero, zero, zero, c[:, 0], -s[:, 0], zero, s[:, 0], c[:, 0]], -1)
  ry = jnp.stack([c[:, 1], zero, s[:, 1], zero, one, zero, -s[:, 1], zero, c[:, 1]], -1)
  rz = jnp.stack([c[:, 2], -s[:, 2], zero, s[:, 2], c[:, 2], zero, zero, zero, one], -1)
  rx, ry, rz = (r.reshape(-1, 3, 3) for r in (rx, ry, rz))
  return rz @ ry @ rx


def rotate(points: jax.Array, angles: jax.Array) -> jax.Array:
  """Each cloud as the reference uses it: p @ Rz Ry Rx. [M, N, 3], [M, 3] -> [M, N, 3]."""
  return jnp.einsum('mnc,mcd->mnd', points, rotation_matrices(angles))


def wrap(angles: jax.Array) -> jax.Array:
  """Angles in [-pi, pi)."""
  return jnp.remainder(angles + jnp.pi, 2 * jnp.pi) - jnp.pi


def real_batch(key: jax.Array, real: distill.RealData, batch: int,
               num_points: int) -> tuple[jax.Array, jax.Array]:
  """`batch` real clouds per class at `num_points` points (`distill.sample_real`; fewer,
  masked, in a smaller class): points [K, batch', num_points, 3], weights [K, batch']."""
  k_pick, k_sub = jax.random.split(key)
  batch = min(batch, real.class_index.shape[1])  # no class has more clouds than that
  points, _, weights = distill.sample_real(k_pick, k_sub, real, batch, num_points)
  return points, weights


def fresh_network(net: nn.Module, key: jax.Array, real: distill.RealData,
                  num_points: int) -> Any:
  """The variables of an untrained `net` whose BatchNorm statistics come from one
  training-mode pass over 8 real clouds per class at `num_points` points (then frozen:
  DC's BN trick, as SADM's and 3DDP's references)."""
  k_init, k_bn = jax.random.split(key)
  variables = net.init({'params': k_init}, jnp.zeros((2, num_points, 3), jnp.float32))
  bn_points, _ = real_batch(k_bn, real, BN_CLOUDS, num_points)
  _, state = net.apply(variables, bn_points.reshape(-1, *bn_points.shape[2:]),
                       train=True, mutable=['batch_stats'], method=net.features)
  return {**variables, **state}


@dataclasses.dataclass(frozen=True)
class SADM:
  """SADM on a tensor with learnable rotations; see the module docstring. Hashable."""
  net: nn.Module
  num_classes: int
  cpc: int
  train_points: int
  batch_real: int
  iterations: int
  lr: float
  lr_rot: float
  momentum: float
  sorted_weight: float
  mmd_weight: float
  class_chunk: int
  synthesizer: Any = None  # a `synthetic` set; None: the tensor (`TensorSet`)
  optimizer: str = 'sgd'   # of the set: 'sgd' (with `momentum`, the reference) or 'adam'
  mesh: Any = None         # devices the classes are split over (`devices.make_mesh`)
  initial: Any = dataclasses.field(compare=False, hash=False, default=None)
  writes_set = True

  @property
  def num_steps(self) -> int:
    return self.iterations

  @property
  def synth(self) -> Any:
    return synthetic.or_tensor(self.synthesizer, self.num_classes, self.cpc,
                               self.train_points)

  def tx(self) -> optax.GradientTransformation:
    """`torch.optim.SGD(momentum)` (or Adam) for the set and, with lr per axis, SGD with
    momentum for the angles."""
    axis_lr = jnp.array([self.lr_rot / 10, self.lr_rot, self.lr_rot / 10])
    set_tx = (optax.sgd(self.lr, momentum=self.momentum) if self.optimizer == 'sgd'
              else optax.adam(self.lr))
    return training.per_key({
        'set': set_tx,
        'angles': optax.chain(optax.scale_by_learning_rate(axis_lr, flip_sign=True),
                              optax.trace(decay=self.momentum))})

  def init(self, key: jax.Array, real: distill.RealData) -> distill.DistillState:
    """`initial(key)`: the set's parameters (a tensor: {'points': [K * cpc, N, 3]})."""
    del real
    params = {'set': self.initial(key),
              'angles': jnp.zeros((self.num_classes * self.cpc, 3), jnp.float32)}
    return distill.DistillState.start(params, self.tx(), jax.random.fold_in(key, 2))

  def clouds(self, params: Any, noise: jax.Array) -> jax.Array:
    """The set's rotated clouds. noise: [K * cpc, N, 1] -> [K * cpc, N, 3]."""
    return rotate(self.synth.generate(params['set'], noise), wrap(params['angles']))

  def loss(self, params: Any, variables: Any, real: jax.Array, weights: jax.Array,
           noise: jax.Array) -> jax.Array:
    """Summed SADM loss over classes. real: [K, B, N, 3]; weights: [K, B]."""
    syn = self.clouds(params, noise)
    syn = syn.reshape(self.num_classes, self.cpc, *syn.shape[1:])

    def features(x):
      return self.net.apply(variables, x, train=False, method=self.net.features)

    def one(xs):
      syn_c, real_c, weights_c = xs
      real_pw, real_g = jax.lax.stop_gradient(features(real_c))
      syn_pw, syn_g = features(syn_c)
      return self.cpc * sadm_loss(real_pw, syn_pw, real_g, syn_g, weights_c > 0,
                                  self.sorted_weight, self.mmd_weight)

    return distill.map_classes(one, (syn, real, weights), self.class_chunk, self.mesh).sum()

  def step(self, state: distill.DistillState,
           real: distill.RealData) -> tuple[distill.DistillState, dict]:
    key = state.step_key()
    k_net, k_real = jax.random.split(key)
    params = {**state.gen_params, 'angles': wrap(state.gen_params['angles'])}
    variables = fresh_network(self.net, k_net, real, self.train_points)
    batch, weights = real_batch(k_real, real, self.batch_real, self.train_points)
    noise = gen_lib.sample_noise(jax.random.fold_in(key, 7), self.num_classes * self.cpc,
                                 self.train_points, self.synth.noise_dim)
    loss, grads = jax.value_and_grad(self.loss)(params, variables, batch, weights, noise)
    updates, opt_state = self.tx().update(grads, state.opt_state, params)
    return (state.replace(gen_params=optax.apply_updates(params, updates), opt_state=opt_state,
                          iteration=state.iteration + 1),
            {'loss': loss / self.num_classes})

  def export(self, state: distill.DistillState, key: jax.Array, num_points: int) -> SmallSet:
    """The rotated set at `num_points` points (a tensor: its own), renormalised."""
    return export_clouds(lambda noise: self.clouds(state.gen_params, noise), key,
                         self.num_classes, self.cpc, self.synth.resolution or num_points,
                         self.synth.noise_dim)


# Its settings (`config.methods.sadm`, the reference's values) and what each accepts;
# `optimizer` of the set defaults to 'sgd' (with `momentum`, the reference's).
DEFAULTS = {'init': 'random', 'iterations': 1500, 'lr': 10.0, 'lr_rot': 0.01, 'momentum': 0.5, 'batch_real': 8,
            'sorted_weight': 0.2, 'mmd_weight': 0.001}
OBJECTIVE_FIELDS = {'lr_rot': fields.POSITIVE, 'momentum': fields.number(0, below=1),
                    'sorted_weight': fields.NON_NEGATIVE, 'mmd_weight': fields.NON_NEGATIVE}
FIELDS = {**OBJECTIVE_FIELDS, 'init': fields.choice(*INITS),
          'iterations': fields.integer(0), 'lr': fields.POSITIVE,
          'batch_real': fields.integer(1), 'optimizer': fields.OPTIMIZER}
# The objective's own settings, added when `methods.dd3d.objective='sadm'` names it (the
# generator keeps its own optimiser, Adam by default, and learning rate).
OBJECTIVE_DEFAULTS = {k: DEFAULTS[k] for k in OBJECTIVE_FIELDS}


def trainer(settings, context, synth, initial) -> SADM:
  """Any synthetic set `synth` (None: the tensor), started from `initial(key)`, with one
  learnable rotation per cloud, trained by SADM's objective."""
  k = context.dataset.num_classes
  return SADM(
      net=pointnet_tnet.make(k), num_classes=k, cpc=context.cpc,
      train_points=settings.train_points,
      batch_real=min(settings.batch_real, len(context.dataset.train)),
      iterations=settings.iterations, lr=settings.lr, lr_rot=settings.lr_rot,
      momentum=settings.momentum, sorted_weight=settings.sorted_weight,
      mmd_weight=settings.mmd_weight,
      class_chunk=devices.resolve_class_chunk(settings.class_chunk), synthesizer=synth,
      optimizer=settings.get('optimizer', 'sgd'), mesh=context.mesh, initial=initial)


memory = set_memory  # a step differentiates through a class chunk's clouds


def from_config(settings, context) -> SADM:
  return trainer(settings, context, None, tensor_start(settings, context))
