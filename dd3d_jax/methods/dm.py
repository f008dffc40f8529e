"""`dm`: distribution matching (Zhao & Bilen 2023), the paper's DM baseline.

No bilevel loop. Each iteration draws a fresh, untrained network and, for every
class, compares the mean global feature of a real batch with that of the class's
synthetic clouds, both under one shared augmentation draw:

    loss = sum_c || sum_i w_i f(aug(real_ci)) - mean_j f(aug(syn_cj)) ||^2

then takes one optimiser step on the synthetic set: the tensor [K * cpc, train_points,
3], initialised from real clouds (those of the random coreset with the same
distillation index), or any `synthetic` set (DD3D's generator with
`methods.dd3d.objective='dm'`: its clouds drawn with fresh noise each step, the
gradient pulled back to its parameters). Settings: `iterations` (None:
`distill.iterations`; one update each), `batch_real`, `train_points` (None:
`distill.train_points`), `lr`, `optimizer` 'adam' (Table 7) or 'sgd' + `momentum` (DC:
lr 1, 0.5, 256 real clouds per class), `augment`. StepLR x0.1 at half.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import optax

from dd3d_jax import devices, distill, fields, synthetic, training
from dd3d_jax import generator as gen_lib
from dd3d_jax.methods import SmallSet, export_clouds, set_memory
from dd3d_jax.methods._matching import INITS, tensor_start
from dd3d_jax.models import Network
from dd3d_jax.objectives.distribution import class_loss


@dataclasses.dataclass(frozen=True)
class DistributionMatching:
  """DM on a tensor; see the module docstring. Hashable (jit-static)."""
  network: Network
  num_classes: int
  cpc: int
  train_points: int
  batch_real: int
  iterations: int
  lr: float
  weight_decay: float
  optimizer: str
  momentum: float
  augment: bool
  class_chunk: int
  augment_up: bool = False      # with `augment`: also a turn about the up axis
  augment_dropout: float = 0.0  # with `augment`: also drop a fraction U(0, this) of points
  layers: bool = False          # match every stage's mean feature too
  synthesizer: Any = None  # a `synthetic` set; None: the tensor (`TensorSet`)
  mesh: Any = None         # devices the classes are split over (`devices.make_mesh`)
  initial: Any = dataclasses.field(compare=False, hash=False, default=None)
  writes_set = True

  @property
  def synth(self) -> Any:
    return synthetic.or_tensor(self.synthesizer, self.num_classes, self.cpc,
                               self.train_points)

  @property
  def num_steps(self) -> int:
    return self.iterations

  def tx(self) -> optax.GradientTransformation:
    half = max(1, self.iterations // 2)
    lr = lambda count: self.lr * 0.1 ** (count // half)  # noqa: E731
    if self.optimizer == 'sgd':
      return training.torch_sgd(lr, self.momentum, self.weight_decay)
    return training.torch_adam(lr, self.weight_decay)

  def init(self, key: jax.Array, real: distill.RealData) -> distill.DistillState:
    """`initial(key)`: the set's parameters (a tensor: {'points': [K * cpc, N, 3]})."""
    del real
    params = self.initial(key)
    return distill.DistillState.start(params, self.tx(), jax.random.fold_in(key, 2))

  def loss(self, points: jax.Array, net_vars: Any, real: jax.Array, weights: jax.Array,
           key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Summed DM loss and its gradient w.r.t. the tensor.

    points: [K * cpc, N', 3]; real: [K, B, N, 3]; weights: [K, B].
    """
    per_class = points.reshape(self.num_classes, self.cpc, *points.shape[1:])

    def one(xs):
      syn_c, real_c, weights_c, k_c = xs
      return jax.value_and_grad(lambda s: class_loss(
          self.network, net_vars, real_c, weights_c, s, k_c if self.augment else None,
          layers=self.layers, up=self.augment_up, dropout=self.augment_dropout))(syn_c)

    keys = jax.random.split(key, self.num_classes)
    losses, grads = distill.map_classes(one, (per_class, real, weights, keys), self.class_chunk,
                                         self.mesh)
    return losses.sum(), grads.reshape(points.shape)

  def step(self, state: distill.DistillState,
           real: distill.RealData) -> tuple[distill.DistillState, dict]:
    key = state.step_key()
    k_net, k_pick, k_sub, k_aug = jax.random.split(key, 4)
    net_vars = self.network.init(k_net)
    batch, _, weights = distill.sample_real(k_pick, k_sub, real, self.batch_real,
                                            self.train_points)
    noise = gen_lib.sample_noise(jax.random.fold_in(key, 7), self.num_classes * self.cpc,
                                 self.train_points, self.synth.noise_dim)
    points, pull_back = jax.vjp(lambda p: self.synth.generate(p, noise), state.gen_params)
    loss, grad = self.loss(points, net_vars, batch, weights, k_aug)
    (grads,) = pull_back(grad)
    updates, opt_state = self.tx().update(grads, state.opt_state, state.gen_params)
    return (state.replace(gen_params=optax.apply_updates(state.gen_params, updates),
                          opt_state=opt_state, iteration=state.iteration + 1),
            {'loss': loss / self.num_classes})

  def export(self, state: distill.DistillState, key: jax.Array, num_points: int) -> SmallSet:
    """The set at `num_points` points (a tensor: at its own resolution), renormalised."""
    return export_clouds(lambda noise: self.synth.generate(state.gen_params, noise), key,
                         self.num_classes, self.cpc, self.synth.resolution or num_points,
                         self.synth.noise_dim)


# Its settings (`config.methods.dm`; inherit: the `distill` field) and what each accepts.
DEFAULTS = {'init': 'random', 'optimizer': 'adam', 'momentum': 0.0,
            'lr': fields.inherit(float), 'weight_decay': fields.inherit(float),
            'iterations': fields.inherit(int), 'batch_real': fields.inherit(int),
            'train_points': fields.inherit(int), 'augment': True, 'augment_up': False,
            'augment_dropout': 0.0, 'layers': False}
FIELDS = {'init': fields.choice(*INITS), 'optimizer': fields.OPTIMIZER,
          'momentum': fields.number(0, below=1), 'lr': fields.POSITIVE,
          'weight_decay': fields.NON_NEGATIVE, 'iterations': fields.integer(0),
          'batch_real': fields.integer(1), 'train_points': fields.integer(1), **fields.AUGMENT,
          'layers': fields.BOOL}
# The objective's own settings, added when `methods.dd3d.objective='dm'` names it.
OBJECTIVE_DEFAULTS = {'augment': True, 'augment_up': False, 'augment_dropout': 0.0,
                      'layers': False}
OBJECTIVE_FIELDS = {**fields.AUGMENT, 'layers': fields.BOOL}


def check(settings, config, where: str) -> None:
  """Its augmentation settings agree (`fields.check_augment`)."""
  fields.check_augment(settings, DEFAULTS, where)


def trainer(settings, context, synth, initial) -> DistributionMatching:
  """Any synthetic set `synth` (None: the tensor), started from `initial(key)`, trained
  by distribution matching with the optimiser of `settings` (default Adam)."""
  return DistributionMatching(
      network=context.network, num_classes=context.dataset.num_classes, cpc=context.cpc,
      train_points=settings.train_points,
      batch_real=min(settings.batch_real, len(context.dataset.train)),
      iterations=settings.iterations, lr=settings.lr, weight_decay=settings.weight_decay,
      optimizer=settings.get('optimizer', 'adam'), momentum=settings.get('momentum', 0.0),
      augment=settings.augment, augment_up=settings.get('augment_up', False),
      augment_dropout=settings.get('augment_dropout', 0.0), layers=settings.get('layers', False),
      class_chunk=devices.resolve_class_chunk(settings.class_chunk), synthesizer=synth,
      mesh=context.mesh, initial=initial)


memory = set_memory  # a step differentiates through a class chunk's clouds


def from_config(settings, context) -> DistributionMatching:
  return trainer(settings, context, None, tensor_start(settings, context))
