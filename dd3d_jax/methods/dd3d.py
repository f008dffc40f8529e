"""`dd3d`: the class-modulated SIREN trained by gradient matching (Bo & Wang, ICML 2025).

Settings: the `distill` budget and `w0_initial`, `hidden`, `num_layers` and `noise_dim`
of the generator (the paper's 1: each cloud the image of a noise segment, a curve; 2: of
a square, a surface). It emits any resolution: distilled at `train_points`, exported at
the evaluation resolution. For part segmentation the generator labels its own points
(`task.synthetic_targets`) and is trained by the task's recipe (the authors'
`seg_inr.py`, see `distill`); `init='real'` works there too (each part of a row is fitted
to the same part of its target, the generator's part of a point being given by its
noise), and the other objectives are for classification. `part_latents` (off; part
segmentation only) makes the generator part-conditioned (`synthetic.PartSirenSet`): one
code per cloud and part, each part generated from the whole noise range, so each part is
a shape of its own.

`init='real'` (off by default, so that `dd3d` is the paper's method) first fits each
generator row to a real cloud of its class, the clouds `random` picks with the same
distillation index: `init_steps` Adam steps at `init_lr` on the Chamfer distance
between the row's cloud (fresh noise each step, renormalised as exported) and its
target, starting from the generator `dd3d` would start from. The paper's conclusion
names this as the next step ("initialize DD3D with real data"). `init='medoid'` fits the
rows to the clouds the `kmedoids` coreset picks instead: the most typical of each class.

`objective` (default 'gm', the paper's) names what trains the generator: any method
module that defines `trainer(settings, context, synth, initial)` (`registry`, kind
'objectives'), here 'gm', 'dm' (`methods.dm`: a fresh untrained network per iteration,
mean features of a real batch and of the generator's clouds under one shared
augmentation, one update per iteration) or 'sadm' (`methods.sadm`: its objective and
learnable rotations), or a plug-in's dotted module path. The generator keeps its own
optimiser (`optimizer`, default Adam, at the `distill` learning rate) and the
objective's own settings (its `OBJECTIVE_DEFAULTS`, such as SADM's `lr_rot`,
`sorted_weight`, `mmd_weight`) can be set on the `dd3d` entry; with the distribution
objectives `iterations` counts generator updates.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import ml_collections
import numpy as np
import optax

from dd3d_jax import config as config_lib
from dd3d_jax import generator as gen_lib
from dd3d_jax import fields, geometry, registry, synthetic
from dd3d_jax.errors import ConfigError
from dd3d_jax.methods import set_memory
from dd3d_jax.methods._matching import real_clouds
from dd3d_jax.ops.chamfer import chamfer_distance


# The tasks (`config.task`) it does (with an objective that does them too).
TASKS = ('classification', 'segmentation')
# Its settings (`config.methods.dd3d`; inherit: the `distill` field) and what each accepts;
# the objective's own are added (`fields`).
DEFAULTS = {'w0_initial': 100.0, 'hidden': 256, 'num_layers': 2, 'noise_dim': 1,
            'init': 'noise', 'init_steps': 300, 'init_lr': 1e-3, 'objective': 'gm',
            'part_latents': False, 'iterations': fields.inherit(int)}
FIELDS = {'w0_initial': fields.POSITIVE, 'hidden': fields.integer(1),
          'num_layers': fields.integer(1), 'noise_dim': fields.integer(1, 4),
          'init': fields.choice('noise', 'real', 'medoid'),
          'init_steps': fields.integer(1), 'init_lr': fields.POSITIVE,
          'objective': fields.registered('objectives'), 'part_latents': fields.BOOL,
          'iterations': fields.integer(0),
          'lr': fields.POSITIVE, 'weight_decay': fields.NON_NEGATIVE,
          'batch_real': fields.integer(1), 'batch_syn': fields.integer(1),
          'optimizer': fields.OPTIMIZER, 'momentum': fields.number(0, below=1)}


memory = set_memory  # a step differentiates through a class chunk's clouds


def objective(entry, where: str):
  """The module of the entry's objective (`registry` kind 'objectives')."""
  return registry.get('objectives', entry.get('objective', 'gm'), f'{where}.objective')


def fields_of(entry, where: str) -> dict:
  """The settings a `dd3d` entry may have: its own and its objective's."""
  return {**FIELDS, **getattr(objective(entry, where), 'OBJECTIVE_FIELDS', {})}


def check(settings, config, where: str) -> None:
  """The objective does the task too, and its augmentation settings agree."""
  name, module = settings.get('objective', 'gm'), objective(settings, where)
  if 'augment' in getattr(module, 'OBJECTIVE_DEFAULTS', {}):
    fields.check_augment(settings, module.OBJECTIVE_DEFAULTS, where)
  if settings.get('part_latents') and registry.get('tasks', config.task).SET_KEY != 'parts':
    raise ConfigError(f'{where}.part_latents gives each part of a cloud its own code, and '
                      f'task {config.task!r} has no parts; use it with '
                      "task='segmentation' or remove it.")
  if not config_lib.does(module, config.task):
    doing = [o for o in registry.names('objectives')
             if config_lib.does(registry.get('objectives', o), config.task)]
    task = registry.get('tasks', config.task).DESCRIPTION
    raise ConfigError(f'{where}.objective {name!r} does not do {task}; use one of '
                      f'{", ".join(doing)}.')


def fit_to_clouds(synthesizer: synthetic.SirenSet, params: Any, targets: jax.Array,
                  key: jax.Array, steps: int, lr: float, target_parts: jax.Array | None = None,
                  noise_parts: Callable[[jax.Array], jax.Array] | None = None
                  ) -> tuple[Any, jax.Array]:
  """Fits every generator row to its target cloud by Adam on the Chamfer distance.

  Args:
    synthesizer: the generator; params: its parameters (rows class-major).
    targets: [K * cpc, N, 3] one target per row, in the unit sphere.
    key: noise of each step; steps: Adam steps (static); lr: Adam's learning rate.
    target_parts, noise_parts: part segmentation: the targets' part ids [K * cpc, N]
      and the generator's (static) noise -> part id map, [K * cpc, N, 1] -> [K * cpc, N];
      each part is then fitted to the same part of its target (`chamfer_distance` with
      labels).
  Returns:
    (fitted parameters, the mean Chamfer distance before each step [steps]).
  """
  tx = optax.adam(lr)

  def loss(p, k):
    noise = gen_lib.sample_noise(k, targets.shape[0], targets.shape[1], synthesizer.noise_dim)
    points = geometry.normalize_to_unit_sphere(synthesizer.generate(p, noise))
    if noise_parts is None:
      return chamfer_distance(points, targets).mean()
    return chamfer_distance(points, targets, noise_parts(noise), target_parts).mean()

  def step(carry, k):
    p, opt_state = carry
    value, grads = jax.value_and_grad(loss)(p, k)
    updates, opt_state = tx.update(grads, opt_state, p)
    return (optax.apply_updates(p, updates), opt_state), value

  (params, _), losses = jax.lax.scan(step, (params, tx.init(params)),
                                     jax.random.split(key, steps))
  return params, losses


def from_config(settings, context):
  module = gen_lib.ModulatedSiren(num_classes=context.dataset.num_classes, cpc=context.cpc,
                                  w0_initial=settings.w0_initial, hidden=settings.hidden,
                                  num_layers=settings.num_layers,
                                  noise_dim=settings.get('noise_dim', 1))
  task = context.targets_task
  synth = (synthetic.PartSirenSet(module, task.proportions) if settings.get('part_latents')
           else synthetic.SirenSet(module))
  fit = jax.jit(fit_to_clouds, static_argnums=(0, 4, 7))
  labelling = functools.partial(noise_targets, task,  # one object: compiled once per run
                                np.asarray(gen_lib.synthetic_labels(module.num_classes,
                                                                    module.cpc)))

  def initial(key: jax.Array) -> Any:
    start = synth.init(jax.random.split(jax.random.fold_in(key, 2))[0])  # dd3d's own start
    if settings.get('init', 'noise') == 'noise':
      return start
    k_fit, clouds = jax.random.fold_in(key, 4), 'random' if settings.init == 'real' else 'medoid'
    if not task.per_point:
      targets = real_clouds(key, context, settings.train_points, init=clouds)
      return fit(synth, start, targets, k_fit, settings.init_steps, settings.init_lr)[0]
    targets, parts = real_clouds(key, context, settings.train_points, True, clouds)
    return fit(synth, start, targets, k_fit, settings.init_steps, settings.init_lr, parts,
               labelling)[0]

  train = objective(settings, 'methods.dd3d')
  resolved = ml_collections.ConfigDict(
      {**getattr(train, 'OBJECTIVE_DEFAULTS', {}), 'optimizer': 'adam', **settings.to_dict()})
  return train.trainer(resolved, context, synth, initial)


def noise_targets(task, labels: np.ndarray, noise: jax.Array) -> jax.Array:
  """The targets the task gives the generator's points from their noise (a hashable map:
  a static argument of the jitted fit)."""
  return task.synthetic_targets(noise, labels)
