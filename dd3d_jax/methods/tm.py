"""`tm`: trajectory matching (Cazenavette et al. 2022, after `buffer.py` and `distill.py`
of GeorgeCazenavette/mtt-distillation), the last distillation baseline of Table 1.

Two stages:

1. Experts, trained once and cached: `num_experts` distillation networks (expert i
   initialised from key i) trained on the whole training split with plain SGD
   (`expert_lr`, no momentum or weight decay, batches of `expert_batch`; each epoch
   on fresh `train_points`-point subsamples, augmented if `augment`), their
   parameters saved at the start and after every epoch up to `max_start_epoch +
   expert_epochs` (the rest of a longer buffer is never read). One file per expert,
   `experts_dir/<fingerprint>_e<i>.npz` (default folder: the workdir's `experts/`; a
   folder given is shared by every workdir that names it): the fingerprint covers every
   input of the experts, so cells of one dataset reuse them and nothing else does.
2. Each iteration picks an expert and a start epoch `min_start_epoch` <= t <
   `max_start_epoch` (a later window is DATM's remedy for larger sets), takes
   `syn_steps` SGD steps from its theta_t on mini-batches of `batch_syn` synthetic
   clouds with a learnable step size `syn_lr` (initially `expert_lr`), and measures

       ||theta_student - theta_{t+M}||^2 / ||theta_t - theta_{t+M}||^2,   M = expert_epochs,

   differentiated through the whole unroll. With `remat` each student step is
   rematerialised in the backward pass, so memory holds one parameter vector per
   step instead of every step's activations (`benchmarks/tm_memory.py`). One update
   of the tensor (`optimizer`: Adam at `lr` with `weight_decay`, the paper's Table 7,
   or SGD with `momentum`, MTT's) and one of `syn_lr` (SGD at `lr_lr`, momentum 0.5).

The set is a [K * cpc, train_points, 3] tensor initialised from real clouds (those of
the random coreset with the same distillation index); it is exported renormalised to
the unit sphere, as every tensor method's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dd3d_jax import distill, fields, geometry, resources, training
from dd3d_jax import generator as gen_lib
from dd3d_jax.errors import ConfigError
from dd3d_jax.tasks.classification import cross_entropy
from dd3d_jax.methods import SmallSet, export_clouds
from dd3d_jax.methods._matching import INITS, tensor_start
from dd3d_jax.models import Network, state_of
from dd3d_jax.objectives import trajectory

SYN_LR_MOMENTUM = 0.5  # of the step size's SGD (the reference's)
# The setting a divergence names (`plan.lr_field`): a step size that grows makes the student
# unroll overshoot, and its loss explodes within a few updates (configs/shapes.py:
# 11.7, 3e3, 5e6, 2e20, NaN at the defaults; lowering the points' `lr` does not help).
DIVERGES_WITH = 'lr_lr'
# Its settings (`config.methods.tm`; inherit: the `distill` field) and what each accepts:
# MTT's 0.01 for `expert_lr` diverges on DD3D's PointNet (1e-3 is its inner-loop rate);
# `lr_lr` is the low end of MTT's 1e-5..1e-7, as 1e-5 blew it up in 4 updates.
DEFAULTS = {'init': 'random', 'num_experts': 5, 'expert_epochs': 2, 'min_start_epoch': 0,
            'max_start_epoch': 10, 'syn_steps': 20, 'expert_lr': 1e-3, 'expert_batch': 256,
            'lr_lr': 1e-7, 'optimizer': 'adam', 'momentum': 0.5, 'lr': fields.inherit(float),
            'weight_decay': fields.inherit(float), 'iterations': fields.inherit(int),
            'batch_syn': fields.inherit(int), 'augment': True, 'remat': True, 'experts_dir': ''}
FIELDS = {'init': fields.choice(*INITS), 'num_experts': fields.integer(1),
          'expert_epochs': fields.integer(1), 'min_start_epoch': fields.integer(0),
          'max_start_epoch': fields.integer(1), 'syn_steps': fields.integer(1),
          'expert_lr': fields.POSITIVE, 'expert_batch': fields.integer(1),
          'lr_lr': fields.NON_NEGATIVE, 'optimizer': fields.OPTIMIZER,
          'momentum': fields.number(0, below=1), 'lr': fields.POSITIVE,
          'weight_decay': fields.NON_NEGATIVE, 'iterations': fields.integer(0),
          'batch_syn': fields.integer(1), 'augment': fields.BOOL, 'remat': fields.BOOL,
          'experts_dir': fields.STRING}
log = logging.getLogger(__name__)


def train_expert(network: Network, task: Any, points: jax.Array, labels: jax.Array, key: jax.Array,
                 *, epochs: int, lr: float, batch_size: int, train_points: int,
                 augment: bool, mesh: Any = None) -> tuple[Any, jax.Array]:
  """One expert trajectory: plain SGD on the whole split (pure; jit it).

  Args:
    task: the targets' task (shape classification: TM matches classification experts).
    points: [N, P, 3] training clouds; labels: [N] int.
    key: the expert's key (initialisation, subsampling, shuffling, augmentation).
    epochs, batch_size, train_points: static.
    mesh: devices each mini-batch is split over (data parallel); None: one device.
  Returns:
    (params with a leading [epochs + 1] axis: the initial ones, then after each epoch;
     mean training loss of each epoch [epochs]).
  """
  k_init, k_epochs = jax.random.split(key)
  variables = network.init(k_init)
  tx = training.torch_sgd(lr)

  def epoch(carry, k):
    variables, opt_state = carry
    k_sub, k_train = jax.random.split(k)
    x = points
    if train_points < points.shape[1]:
      x = geometry.normalize_to_unit_sphere(geometry.subsample(k_sub, points, train_points))
    variables, opt_state, losses = training.train_epochs(
        network, task, tx, variables, opt_state, x, labels, labels, k_train, num_epochs=1,
        batch_size=batch_size, augment=augment, mesh=mesh)
    return (variables, opt_state), (variables['params'], losses[0])

  _, (params, losses) = jax.lax.scan(epoch, (variables, tx.init(variables['params'])),
                                     jax.random.split(k_epochs, epochs))
  params = jax.tree.map(lambda first, rest: jnp.concatenate([first[None], rest]),
                        variables['params'], params)
  return params, losses


@dataclasses.dataclass(frozen=True)
class TrajectoryMatching:
  """TM on a tensor; see the module docstring. Hashable (jit-static).

  `experts()` returns {'params': every leaf [E, max_start_epoch + expert_epochs + 1,
  ...], 'state': the network's other collections}: what `step` gets (`inputs`).
  """
  network: Network
  num_classes: int
  cpc: int
  train_points: int
  iterations: int
  syn_steps: int
  batch_syn: int
  expert_epochs: int
  min_start_epoch: int
  max_start_epoch: int
  expert_lr: float
  lr: float
  weight_decay: float
  optimizer: str
  momentum: float
  lr_lr: float
  augment: bool
  remat: bool
  mesh: Any = None  # devices the state is kept whole on (the student unroll is not split)
  experts: Callable[[], Any] = dataclasses.field(compare=False, hash=False, default=None)
  initial: Callable[[jax.Array], Any] = dataclasses.field(compare=False, hash=False,
                                                          default=None)
  writes_set = True

  @property
  def num_steps(self) -> int:
    return self.iterations

  def tx(self) -> optax.GradientTransformation:
    points = (training.torch_sgd(self.lr, self.momentum, self.weight_decay)
              if self.optimizer == 'sgd' else training.torch_adam(self.lr, self.weight_decay))
    return training.per_key(
        {'points': points, 'syn_lr': training.torch_sgd(self.lr_lr, SYN_LR_MOMENTUM)})

  def inputs(self, real: distill.RealData) -> Any:
    """What `step` gets instead of the real split: the expert trajectories."""
    del real
    return self.experts()

  def init(self, key: jax.Array, real: distill.RealData) -> distill.DistillState:
    del real
    params = {'points': self.initial(key)['points'],
              'syn_lr': jnp.asarray(self.expert_lr, jnp.float32)}
    return distill.DistillState.start(params, self.tx(), jax.random.fold_in(key, 2))

  def unroll(self, params: Any, start: Any, state: Any, key: jax.Array) -> Any:
    """The student's parameters after `syn_steps` SGD steps from `start` on the set.

    params: {'points': [K * cpc, N, 3], 'syn_lr': scalar}; start: network parameters.
    The student trains on the clouds renormalised to the unit sphere, as they are exported
    (and as every other method's objective sees its set), so that the loss scores the set
    that is evaluated: a point of the raw tensor that drifts outwards shrinks the rest of
    its cloud at export.
    """
    points = geometry.normalize_to_unit_sphere(params['points'])
    labels = gen_lib.synthetic_labels(self.num_classes, self.cpc)
    k_idx, k_steps = jax.random.split(key)
    idx = trajectory.batch_indices(k_idx, points.shape[0], self.batch_syn, self.syn_steps)

    def batch_loss(theta, i, k):
      k_aug, k_drop = jax.random.split(k)
      x = geometry.augment(k_aug, points[i]) if self.augment else points[i]
      logits, _ = self.network.apply({**state, 'params': theta}, x, train=True, key=k_drop)
      return cross_entropy(logits, labels[i])

    return trajectory.student_unroll(batch_loss, start, params['syn_lr'], idx,
                                     jax.random.split(k_steps, self.syn_steps), self.remat)

  def loss(self, params: Any, start: Any, target: Any, state: Any, key: jax.Array) -> jax.Array:
    """||theta_student - target||^2 / ||start - target||^2 (scalar)."""
    return trajectory.trajectory_loss(self.unroll(params, start, state, key), start, target)

  def step(self, state: distill.DistillState, experts: Any) -> tuple[distill.DistillState, dict]:
    key = state.step_key()
    k_expert, k_start, k_unroll = jax.random.split(key, 3)
    num_experts = jax.tree.leaves(experts['params'])[0].shape[0]
    e = jax.random.randint(k_expert, (), 0, num_experts)
    t = jax.random.randint(k_start, (), self.min_start_epoch, self.max_start_epoch)
    start = jax.tree.map(lambda a: a[e, t], experts['params'])
    target = jax.tree.map(lambda a: a[e, t + self.expert_epochs], experts['params'])
    loss, grads = jax.value_and_grad(self.loss)(state.gen_params, start, target,
                                                experts['state'], k_unroll)
    updates, opt_state = self.tx().update(grads, state.opt_state, state.gen_params)
    return (state.replace(gen_params=optax.apply_updates(state.gen_params, updates),
                          opt_state=opt_state, iteration=state.iteration + 1),
            {'loss': loss})

  def export(self, state: distill.DistillState, key: jax.Array, num_points: int) -> SmallSet:
    """The tensor at its own resolution, renormalised."""
    del num_points
    points = state.gen_params['points']
    return export_clouds(lambda noise: points, key, self.num_classes, self.cpc,
                         points.shape[1])


def fingerprint(settings, context) -> str:
  """12 hex digits naming the experts: the training split, the network and every
  setting that changes them."""
  train = context.dataset.train
  digest = hashlib.sha256(np.ascontiguousarray(train.points, np.float32).tobytes())
  digest.update(np.ascontiguousarray(train.labels, np.int64).tobytes())
  # The network as this key has named it since before `Network` had its current name, so
  # that experts cached by earlier versions are found again.
  network = f'Classifier(net={context.network.net!r}, rotator={context.network.rotator!r})'
  digest.update(json.dumps({
      'network': network, 'train_points': settings.train_points,
      'epochs': settings.max_start_epoch + settings.expert_epochs,
      'lr': settings.expert_lr, 'batch': settings.expert_batch,
      'augment': settings.augment}, sort_keys=True).encode())
  return digest.hexdigest()[:12]


def experts_fn(settings, context) -> Callable[[], Any]:
  """`experts()`: every expert, trained (or read from its cached file) on first call."""
  train, network = context.dataset.train, context.network
  epochs = settings.max_start_epoch + settings.expert_epochs
  template = network.init(jax.random.key(0))
  treedef = jax.tree.structure(template['params'])
  # A given folder is the user's (relative to the current directory); else the workdir's.
  folder = os.path.abspath(settings.experts_dir) if settings.experts_dir else 'experts'
  name = fingerprint(settings, context)
  # The split is an argument, not a constant of the program (XLA would copy it into the
  # executable and try to fold it).
  fit = jax.jit(lambda key, points, labels: train_expert(
      network, context.targets_task, points, labels, key, epochs=epochs,
      lr=settings.expert_lr, batch_size=settings.expert_batch,
      train_points=settings.train_points, augment=settings.augment, mesh=context.mesh))
  memo = []

  def one(i: int) -> dict[str, np.ndarray]:
    params, losses = fit(jax.random.key(i), train.points, train.labels)
    log.info('tm: expert %d/%d trained for %d epochs (loss %.3f -> %.3f).', i + 1,
             settings.num_experts, epochs, float(losses[0]), float(losses[-1]))
    return {'losses': np.asarray(losses),
            **{f'leaf{j:04d}': np.asarray(x) for j, x in enumerate(jax.tree.leaves(params))}}

  def experts() -> Any:
    if not memo:
      files = [context.cache(os.path.join(folder, f'{name}_e{i}.npz'), lambda i=i: one(i))
               for i in range(settings.num_experts)]
      leaves = [np.stack([f[f'leaf{j:04d}'] for f in files]) for j in range(treedef.num_leaves)]
      memo.append({'params': jax.tree.unflatten(treedef, [jnp.asarray(x) for x in leaves]),
                   'state': state_of(template)})
    return memo[0]

  return experts


def memory(settings, num_classes: int, cpc: int) -> int:
  """At least one student step's batch through the widest layer, beside the set."""
  clouds = min(settings.batch_syn, num_classes * cpc)
  return (resources.activation_bytes(clouds, settings.train_points)
          + resources.cloud_bytes(num_classes * cpc, settings.train_points))


def check(settings, config, where: str) -> None:
  """The start epochs are drawn from [min_start_epoch, max_start_epoch)."""
  del config
  if settings.min_start_epoch >= settings.max_start_epoch:
    raise ConfigError(f'{where}.min_start_epoch ({settings.min_start_epoch}) must be below '
                      f'max_start_epoch ({settings.max_start_epoch}); lower it or raise '
                      'max_start_epoch.')


def from_config(settings, context) -> TrajectoryMatching:
  k, n = context.dataset.num_classes, settings.train_points
  return TrajectoryMatching(
      network=context.network, num_classes=k, cpc=context.cpc, train_points=n,
      iterations=settings.iterations, syn_steps=settings.syn_steps,
      batch_syn=settings.batch_syn, expert_epochs=settings.expert_epochs,
      min_start_epoch=settings.min_start_epoch, max_start_epoch=settings.max_start_epoch,
      expert_lr=settings.expert_lr, lr=settings.lr,
      weight_decay=settings.weight_decay, optimizer=settings.optimizer,
      momentum=settings.momentum, lr_lr=settings.lr_lr, augment=settings.augment,
      remat=settings.remat, mesh=context.mesh, experts=experts_fn(settings, context),
      initial=tensor_start(settings, context))


__all__ = ['TrajectoryMatching', 'experts_fn', 'fingerprint', 'train_expert']
