"""`gm`: gradient matching on raw clouds (Zhao et al. 2021), the paper's GM baseline.

The set is a [K * cpc, train_points, 3] tensor initialised from real clouds (those
of the random coreset with the same distillation index), trained by DD3D's own loop
and distance. Settings: the `distill` budget; `optimizer` 'adam' (the paper's Table
7) or 'sgd' with `momentum` and `lr` (DC's: 0.1, 0.5; `config.use_dc_settings`);
`augment` (off): DSA's siamese augmentation, one scale and small rotation per class and
update for its real and synthetic clouds alike (`distill.Distiller.augment`), with
`augment_up` and `augment_dropout` as DM's. A
tensor has one resolution: it is evaluated at `train_points` points (a field of its
own overrides `distill.train_points`). For part
segmentation its points keep the part labels of the real clouds it starts from
(Table 2's GM).
"""

from __future__ import annotations

from dd3d_jax import fields, registry, synthetic
from dd3d_jax.errors import ConfigError
from dd3d_jax.methods import set_memory
from dd3d_jax.methods._matching import (INITS, MatchingMethod, make_distiller, real_clouds,
                                        tensor_start)

# The tasks (`config.task`) it does.
TASKS = ('classification', 'segmentation')
# Its settings (`config.methods.gm`; inherit: the `distill` field) and what each accepts.
DEFAULTS = {'init': 'random', 'optimizer': 'adam', 'momentum': 0.0, 'augment': False,
            'augment_up': False, 'augment_dropout': 0.0,
            'lr': fields.inherit(float), 'weight_decay': fields.inherit(float),
            'iterations': fields.inherit(int), 'train_points': fields.inherit(int)}
FIELDS = {'init': fields.choice(*INITS), 'optimizer': fields.OPTIMIZER, **fields.AUGMENT,
          'momentum': fields.number(0, below=1), 'lr': fields.POSITIVE,
          'weight_decay': fields.NON_NEGATIVE, 'iterations': fields.integer(0),
          'batch_real': fields.integer(1), 'batch_syn': fields.integer(1),
          'train_points': fields.integer(1)}
# What the objective itself adds when `methods.dd3d.objective='gm'` names it (the loops
# and distance are the `distill` fields).
OBJECTIVE_DEFAULTS = {'augment': False, 'augment_up': False, 'augment_dropout': 0.0}
OBJECTIVE_FIELDS = fields.AUGMENT


def check(settings, config, where: str) -> None:
  """Its augmentation settings agree (`fields.check_augment`), and PCC's start has the
  features it ranks clouds by (a network with global features: not part segmentation's)."""
  fields.check_augment(settings, DEFAULTS, where)
  if settings.get('init') == 'feature_mean' and registry.get('tasks', config.task).SET_KEY:
    raise ConfigError(f"{where}.init 'feature_mean' ranks clouds by the global features of a "
                      f'classification network, which task {config.task!r} does not train; '
                      f"use {where}.init='random'.")


def trainer(settings, context, synth, initial) -> MatchingMethod:
  """Any synthetic set `synth`, started from `initial(key)`, trained by gradient
  matching (`distill`) with the optimiser of `settings` (default Adam)."""
  return MatchingMethod(make_distiller(settings, context, synth), initial)


memory = set_memory  # a step differentiates through a class chunk's clouds


def from_config(settings, context) -> MatchingMethod:
  k, n = context.dataset.num_classes, settings.train_points
  tensor = synthetic.TensorSet(k, context.cpc, n)
  fixed = None  # per-point targets (part ids) cannot come from a tensor's noise: keep the
  if context.targets_task.per_point:  # starting clouds' own
    init = settings.get('init', 'random')
    fixed = lambda key: real_clouds(key, context, n, True, init)[1]  # noqa: E731
  return MatchingMethod(make_distiller(settings, context, tensor),
                        tensor_start(settings, context), fixed)
