"""The configuration shared by all `configs/*.py`, its validation and variant parsing.

A config file's `get_config(arg)` starts from `base_config()`, sets the dataset's
reference values, and applies a variant string such as "cpc=10,rotated".
Any field can then be overridden on the command line, e.g.
`--config.distill.iterations=50 --config.data.path=/data/modelnet40_ply_hdf5_2048`.

Methods: `config.methods.NAME` describes one method (`type` is a module of
`dd3d_jax.methods`, the rest its settings) and `eval.methods` lists the names to
run. A method's setting left at None falls back to the `distill` field of the same
name, the budget every distillation method shares (the paper's Table 7); see
`method_settings`.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax
import ml_collections
from ml_collections import config_dict

from dd3d_jax import devices, registry
from dd3d_jax.errors import ConfigError

OPTIMIZERS = ('adam', 'sgd')
# The methods of the paper's Table 1, in its column order, and the upper bound.
TABLE1_METHODS = 'random,herding,kcenter,gm,dm,tm,dd3d,full'


def does(method_type: str, task: str) -> bool:
  """Whether method `method_type` does `task`: its module's `TASKS` names it, or is '*'
  (a selection of real clouds does every task)."""
  tasks = getattr(registry.get('methods', method_type), 'TASKS', ('classification',))
  return tasks == '*' or task in tasks


def task_methods(task: str) -> tuple[str, ...]:
  """The method types that do `task` (`does`): Table 1's first, in its order, then the
  others by name."""
  order = TABLE1_METHODS.split(',')
  found = [name for name in registry.names('methods') if does(name, task)]
  return tuple(sorted(found, key=lambda n: (order.index(n) if n in order else len(order), n)))


def _method(type_: str, **fields) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({'type': type_, **fields})


def default_methods() -> ml_collections.ConfigDict:
  """One entry per method of the paper's Table 1, with the paper's settings.

  None means "the `distill` field of the same name"; a method's own `iterations` of 0
  evaluates its set as initialised. DC's own optimiser settings
  for GM and DM are `use_dc_settings(config)` (a config variant).
  """
  # A fresh placeholder per field: one shared FieldReference would tie the fields together.
  def inherit_f():
    return config_dict.placeholder(float)

  def inherit_i():
    return config_dict.placeholder(int)

  return ml_collections.ConfigDict({
      # The distilled generator (this paper).
      # init 'real': each generator row first fitted to a real cloud of its class
      # (Chamfer distance, `init_steps` Adam steps at `init_lr`), then distilled as usual;
      # objective 'dm' or 'sadm': the generator trained by distribution matching or SADM's
      # objective (one update per iteration) instead of gradient matching.
      'dd3d': _method('dd3d', w0_initial=100.0, hidden=256, num_layers=2, init='noise',
                      init_steps=300, init_lr=1e-3, objective='gm', iterations=inherit_i()),
      # Coresets of real clouds: random; herding and k-center on the 1,024-d features of a
      # PointNet trained on the whole training split for `embed_epochs` (None: eval.epochs).
      'random': _method('random'),
      'herding': _method('herding', embed_epochs=inherit_i()),
      'kcenter': _method('kcenter', embed_epochs=inherit_i()),
      # Raw [K * cpc, train_points, 3] tensors initialised from real clouds: gradient
      # matching with DD3D's loop and distance; distribution matching of mean features.
      'gm': _method('gm', optimizer='adam', momentum=0.0, lr=inherit_f(),
                    weight_decay=inherit_f(), iterations=inherit_i()),
      'dm': _method('dm', optimizer='adam', momentum=0.0, lr=inherit_f(), weight_decay=inherit_f(),
                    iterations=inherit_i(), batch_real=inherit_i(), augment=True),
      # Beyond the paper: SADM (NeurIPS 2025), sorted-feature distribution matching of a
      # tensor with learnable rotations under fresh original PointNets (its own settings).
      'sadm': _method('sadm', iterations=1500, lr=10.0, lr_rot=0.01, momentum=0.5,
                      batch_real=8, sorted_weight=0.2, mmd_weight=0.001),
      # Trajectory matching of a tensor initialised from real clouds: `num_experts`
      # networks trained on the whole split by SGD (`expert_lr`, `expert_batch`; MTT's 0.01
      # diverges on DD3D's PointNet, 1e-3 is its inner-loop rate; the step size's `lr_lr`
      # is the low end of MTT's 1e-5..1e-7, as 1e-5 blew it up in 4 updates) for
      # max_start_epoch + expert_epochs epochs, cached in `experts_dir` ('': the
      # workdir's experts/); each iteration `syn_steps` student steps from a random
      # expert epoch in [min_start_epoch, max_start_epoch), matched to `expert_epochs`
      # epochs later (a later window is DATM's remedy for larger sets, Guo et al. 2024).
      'tm': _method('tm', num_experts=5, expert_epochs=2, min_start_epoch=0,
                    max_start_epoch=10, syn_steps=20,
                    expert_lr=1e-3, expert_batch=256, lr_lr=1e-7, optimizer='adam',
                    momentum=0.5, lr=inherit_f(), weight_decay=inherit_f(),
                    iterations=inherit_i(), batch_syn=inherit_i(), augment=True, remat=True,
                    experts_dir=''),
      # The whole training split: the upper bound (`eval_epochs` None: eval.epochs).
      'full': _method('full', eval_epochs=inherit_i()),
  })


# DD3D's init x objective ablation ("beyond the paper"): name -> (init, objective);
# `dd3d` itself is ('noise', 'gm').
DD3D_VARIANTS = {'dd3d_real': ('real', 'gm'), 'dd3d_dm': ('noise', 'dm'),
                 'dd3d_real_dm': ('real', 'dm'), 'dd3d_sadm': ('noise', 'sadm'),
                 'dd3d_real_sadm': ('real', 'sadm')}


def add_dd3d_variants(c: ml_collections.ConfigDict, updates: int) -> ml_collections.ConfigDict:
  """Adds the methods of `DD3D_VARIANTS`: `dd3d`'s settings with another `init` and
  `objective`. The distribution objectives make one generator update per iteration, so
  they get `updates` iterations (give DM's number: the same budget as DM); gradient
  matching keeps `dd3d`'s loops. Pick them with `eval.methods`."""
  for name, (init, objective) in DD3D_VARIANTS.items():
    entry = ml_collections.ConfigDict(c.methods.dd3d.to_dict())
    entry.update(init=init, objective=objective)
    if objective != 'gm':
      entry.iterations = updates
    c.methods[name] = entry
  return c


def use_dc_settings(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """DC's own settings for GM and DM (Zhao et al., `main.py`, `main_DM.py`): SGD with
  momentum 0.5 and no weight decay on the data, lr 0.1 (GM) and 1 (DM), 256 real clouds
  per class for DM. The StepLR at half of the iterations stays; DC ran DM for 20,000
  iterations: set `methods.dm.iterations` for that."""
  c.methods.gm.update(optimizer='sgd', lr=0.1, momentum=0.5, weight_decay=0.0)
  c.methods.dm.update(optimizer='sgd', lr=1.0, momentum=0.5, weight_decay=0.0, batch_real=256)
  return c


def use_sadm_eval(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """SADM's evaluation recipe (`evaluate_synset` in donguk071/SADM `utils.py`): its own
  PointNet (`pointnet_tnet`, T-Net and BatchNorm) trained for 500 epochs in batches of
  8 by SGD (lr 0.01, momentum 0.9, L2 5e-4) with lr x0.1 at half, no augmentation,
  tested after the last epoch. Compare methods only inside one protocol: its random
  coreset reaches other numbers than DD3D's recipe gives it."""
  c.eval.update(backbones='pointnet_tnet', epochs=500, batch_size=8, optimizer='sgd', lr=0.01,
                weight_decay=5e-4, schedule='step', augment=False, test_every=500)
  return c


def use_segmentation(c: ml_collections.ConfigDict, epochs: int = 1000) -> ml_collections.ConfigDict:
  """Part segmentation with the reference's evaluation recipe (`seg_inr.py`,
  `utils.evaluate_segment`): SGD lr 1e-2, momentum 0.9, L2 1e-2, cosine to 1e-3 over
  `epochs` (1,000 in the paper), batch 32, no augmentation, tested after the last epoch;
  inner-loop batches of 32; the methods that do part segmentation (`task_methods`); in
  the rotated setting the evaluation rotator has w0 10."""
  c.task = 'segmentation'
  c.eval.update(optimizer='sgd', lr=1e-2, lr_min=1e-3, weight_decay=1e-2, schedule='cosine',
                epochs=epochs, batch_size=32, augment=False, test_every=epochs)
  c.distill.batch_syn = 32
  c.model.w0_sign = 10.0
  c.eval.methods = ','.join(task_methods('segmentation'))
  return c


def base_config() -> ml_collections.ConfigDict:
  """Defaults: the authors' code (ModelNet40 values where they depend on the dataset)."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.task = 'classification'         # a module of dd3d_jax.tasks: or 'segmentation' (part
                                    # labels; `task_methods`), or a dotted module path
  c.num_distills = 1                # independent distillations (paper: 2)
  c.matmul_precision = 'default'    # or 'highest' (full float32 matmuls on GPU/TPU)

  c.mesh = ml_collections.ConfigDict()
  c.mesh.units = 0                  # devices of all processes to split over (0: all)

  c.data = ml_collections.ConfigDict()
  c.data.format = 'shapes'          # see dd3d_jax.data.READERS, or 'auto' (detect from path)
  c.data.path = ''
  c.data.variant = ''               # ScanObjectNN: 'obj_bg' ('' too) | 'obj_only' | 'pb_t50_rs'
  c.data.num_points = 1024          # cloud resolution; also the evaluation resolution
  c.data.rotated = False            # rotated setting: random SO(3) + PCA, rotator on
  c.data.seed = 0                   # subsampling and rotated-setting rotations
  c.data.allow_resample = False     # shapenetpart_txt/mvpnet: pad clouds with fewer than
                                    # num_points points by resampling their own points
                                    # (with replacement) instead of failing
  c.data.shapes = ml_collections.ConfigDict({'num_train_per_class': 100,
                                             'num_test_per_class': 40,
                                             'max_crop': 0.0})  # partial views, see data.shapes

  c.model = ml_collections.ConfigDict()
  c.model.arch = 'pointnet'
  c.model.rotator = 'fixed'         # used in the rotated setting: 'fixed' (code) | 'learnable'
  c.model.w0_sign = 1.0
  c.model.rotator_frequencies = 8   # learnable rotator only
  c.model.rotator_tau = 0.1         # learnable rotator only

  c.distill = ml_collections.ConfigDict()
  c.distill.cpc = 1
  c.distill.iterations = 400
  c.distill.outer_loop = 10
  c.distill.inner_loop = 1
  c.distill.batch_real = 32
  c.distill.train_points = 1024
  c.distill.lr = 1e-3
  c.distill.weight_decay = 5e-4
  c.distill.lr_net = 1e-3
  c.distill.batch_syn = 256
  c.distill.metric = 'ours'
  c.distill.class_chunk = -1        # -1: per backend (CPU 1, else 0 = one vmap)
  c.distill.augment_real = False
  c.distill.checkpoint_every = 10   # iterations
  c.distill.keep_checkpoints = 3
  c.distill.log_every = 10          # iterations

  c.eval = ml_collections.ConfigDict()
  c.eval.num_evals = 5
  c.eval.epochs = 200
  c.eval.batch_size = 256
  c.eval.optimizer = 'adam'
  c.eval.lr = 1e-3
  c.eval.lr_min = 1e-4
  c.eval.weight_decay = 5e-4
  c.eval.schedule = 'cosine'
  c.eval.augment = True
  c.eval.test_every = 1
  c.eval.test_batch = 256
  c.eval.methods = 'dd3d,random'    # comma-separated names of `methods` entries to run
  c.eval.backbones = ''             # networks that evaluate every set, comma-separated
                                    # (dd3d_jax.models); '' = model.arch
  c.eval.reevaluate = False         # evaluate every set again (run files are replaced)

  c.methods = default_methods()
  return c


def parse_variant(arg: str | None, allowed: dict[str, type]) -> dict:
  """Parses "cpc=10,rotated" into {'cpc': 10, 'rotated': True}.

  Args:
    arg: the text after ':' in `--config=file.py:arg` (None or '' for defaults).
    allowed: name -> type (bool names may appear alone).
  """
  out = {}
  for item in filter(None, (arg or '').split(',')):
    name, _, value = item.partition('=')
    name = name.strip()
    if name not in allowed:
      raise ConfigError(f'config variant {name!r} is unknown; use {sorted(allowed)} '
                        f'(e.g. --config=configs/modelnet40.py:cpc=10,rotated).')
    kind = allowed[name]
    if kind is bool:
      out[name] = value.strip().lower() not in ('0', 'false', 'no') if value else True
    else:
      try:
        out[name] = kind(value)
      except ValueError:
        raise ConfigError(f'config variant {name}={value!r} is not a {kind.__name__}; '
                          f'write e.g. {name}=10.') from None
  return out


def parse_methods(methods: str) -> tuple[str, ...]:
  """'dd3d, random' -> ('dd3d', 'random')."""
  return tuple(m.strip() for m in methods.split(',') if m.strip())


def eval_backbones(c: ml_collections.ConfigDict) -> tuple[str, ...]:
  """The evaluation networks: `eval.backbones`, or `model.arch` if it is empty."""
  return parse_methods(c.eval.backbones) or (c.model.arch,)


def loops_for(table: dict[int, tuple[int, int]], cpc: int, what: str) -> tuple[int, int]:
  """(outer_loop, inner_loop) for a CPC from a reference table."""
  if cpc not in table:
    raise ConfigError(f'{what} has reference loops for cpc in {sorted(table)}, not {cpc}; '
                      'pick one of those or set distill.outer_loop/inner_loop yourself.')
  return table[cpc]


def resolve_class_chunk(class_chunk: int) -> int:
  """-1 picks per backend: 1 on CPU (sequential map is faster and lighter there), else 0."""
  if class_chunk >= 0:
    return class_chunk
  return 1 if jax.default_backend() == 'cpu' else 0


def method_settings(c: ml_collections.ConfigDict, name: str) -> ml_collections.ConfigDict:
  """The settings of method `name`: `distill` overlaid with its non-None own fields.

  Returns a new ConfigDict (the config is not changed), e.g. for the default config
  `method_settings(c, 'gm').lr == c.distill.lr` and `.optimizer == 'adam'`.
  """
  if name not in c.methods:
    raise ConfigError(f'eval.methods names {name!r}, which config.methods does not define; '
                      f'use some of {", ".join(c.methods)} (or add methods.{name}).')
  merged = c.distill.to_dict()
  merged.update({k: v for k, v in c.methods[name].items() if v is not None})
  return ml_collections.ConfigDict(merged)


def _check(ok: bool, message: str) -> None:
  if not ok:
    raise ConfigError(message)


def _is_int(value) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class _Rule(NamedTuple):
  """What a field accepts: `ok(value)`, and `says`, the end of "FIELD must be ...".
  A rule with `choices` reports "FIELD 'x' is unknown; use one of ..." instead."""
  ok: Callable[[Any], bool]
  says: str
  choices: Callable[[], tuple[str, ...]] | None = None


def _int(lo: int) -> _Rule:
  return _Rule(lambda v: _is_int(v) and v >= lo,
               'a positive integer' if lo == 1 else f'an integer >= {lo}')


def _num(lo: float, *, above: bool = False, below: float | None = None) -> _Rule:
  """A finite number >= lo (> lo if `above`), and < below if given."""
  says = f'a finite number {">" if above else ">="} {lo:g}'
  if below is not None:
    says = f'a finite number in {"(" if above else "["}{lo:g}, {below:g})'
  return _Rule(lambda v: (_is_number(v) and (v > lo if above else v >= lo)
                          and (below is None or v < below)), says)


def _choice(*options: str) -> _Rule:
  return _Rule(lambda v: v in options, '', lambda: options)


def _registered(kind: str) -> _Rule:
  return _Rule(lambda v: v in registry.names(kind), '', lambda: registry.names(kind))


_BOOL = _Rule(lambda v: isinstance(v, bool), 'True or False')
_STR = _Rule(lambda v: isinstance(v, str), 'a string')
_POSITIVE = _num(0, above=True)
_NON_NEGATIVE = _num(0)

# Every field of `base_config()` but `methods`, and what it accepts.
FIELDS = {
    'seed': _int(0), 'task': _registered('tasks'), 'num_distills': _int(1),
    'matmul_precision': _choice('default', 'high', 'highest'), 'mesh.units': _int(0),
    'data.format': _registered('data formats'), 'data.path': _STR,
    'data.variant': _choice('', 'obj_bg', 'obj_only', 'pb_t50_rs'),
    'data.num_points': _int(1), 'data.rotated': _BOOL, 'data.seed': _int(0),
    'data.allow_resample': _BOOL,
    'data.shapes.num_train_per_class': _int(1), 'data.shapes.num_test_per_class': _int(1),
    'data.shapes.max_crop': _num(0, below=1),
    'model.arch': _registered('networks'), 'model.rotator': _registered('rotators'),
    'model.w0_sign': _POSITIVE, 'model.rotator_frequencies': _int(1),
    'model.rotator_tau': _POSITIVE,
    'distill.cpc': _int(1), 'distill.iterations': _int(1), 'distill.outer_loop': _int(1),
    'distill.inner_loop': _int(0), 'distill.batch_real': _int(1),
    'distill.train_points': _int(1), 'distill.lr': _POSITIVE,
    'distill.weight_decay': _NON_NEGATIVE, 'distill.lr_net': _POSITIVE,
    'distill.batch_syn': _int(1), 'distill.metric': _registered('metrics'),
    'distill.class_chunk': _Rule(lambda v: _is_int(v) and v >= -1,
                                 '-1 (auto), 0 (one vmap) or a chunk size'),
    'distill.augment_real': _BOOL, 'distill.checkpoint_every': _int(1),
    'distill.keep_checkpoints': _int(1), 'distill.log_every': _int(1),
    'eval.num_evals': _int(1), 'eval.epochs': _int(1), 'eval.batch_size': _int(1),
    'eval.optimizer': _choice(*OPTIMIZERS), 'eval.lr': _POSITIVE, 'eval.lr_min': _NON_NEGATIVE,
    'eval.weight_decay': _NON_NEGATIVE, 'eval.schedule': _choice('cosine', 'step'),
    'eval.augment': _BOOL, 'eval.test_every': _int(1), 'eval.test_batch': _int(1),
    'eval.methods': _STR, 'eval.backbones': _STR, 'eval.reevaluate': _BOOL,
}
# The settings a `methods.NAME` entry may have (beside `type`), for every method type.
METHOD_FIELDS = {
    'iterations': _int(0),  # 0: evaluate the set as initialised (a control)
    'lr': _POSITIVE, 'weight_decay': _NON_NEGATIVE, 'optimizer': _choice(*OPTIMIZERS),
    'momentum': _num(0, below=1), 'batch_real': _int(1), 'augment': _BOOL,
    'embed_epochs': _int(1), 'eval_epochs': _int(1), 'hidden': _int(1), 'num_layers': _int(1),
    'w0_initial': _POSITIVE, 'init': _choice('noise', 'real'), 'init_steps': _int(1),
    'init_lr': _POSITIVE, 'objective': _choice('gm', 'dm', 'sadm'), 'lr_rot': _POSITIVE,
    'sorted_weight': _NON_NEGATIVE,
    'mmd_weight': _NON_NEGATIVE, 'num_experts': _int(1), 'expert_epochs': _int(1),
    'min_start_epoch': _int(0), 'max_start_epoch': _int(1), 'syn_steps': _int(1),
    'expert_lr': _POSITIVE, 'expert_batch': _int(1), 'lr_lr': _NON_NEGATIVE, 'batch_syn': _int(1),
    'remat': _BOOL, 'experts_dir': _STR,
}


def _apply(rule: _Rule, field: str, value) -> None:
  if rule.choices is not None:
    _check(rule.ok(value), f'{field} {value!r} is unknown; use one of '
                           f'{", ".join(map(repr, rule.choices()))}.'
           if '' in rule.choices() else
           f'{field} {value!r} is unknown; use one of {", ".join(rule.choices())}.')
  else:
    _check(rule.ok(value), f'{field} must be {rule.says}, got {value!r}.')


def _leaves(d: ml_collections.ConfigDict, prefix: str = '') -> dict:
  out = {}
  for k, v in d.items():
    if isinstance(v, ml_collections.ConfigDict):
      out.update(_leaves(v, f'{prefix}{k}.'))
    else:
      out[f'{prefix}{k}'] = v
  return out


def _validate_method(c: ml_collections.ConfigDict, name: str) -> None:
  """The type of `methods.<name>` is registered and its resolved settings are in range."""
  entry, where = c.methods[name], f'methods.{name}'
  if 'type' not in entry:
    raise ConfigError(f'{where} has no type; set {where}.type to one of '
                      f'{", ".join(registry.names("methods"))}.')
  registry.check('methods', entry.type, f'{where}.type')
  for k, v in entry.items():
    if k == 'type':
      continue
    _check(k in METHOD_FIELDS, f'{where}.{k} is not a setting of any method; remove it (the '
                               f'settings are {", ".join(sorted(METHOD_FIELDS))}).')
    if v is not None:  # None: the `distill` field of the same name, checked there
      _apply(METHOD_FIELDS[k], f'{where}.{k}', v)


def validate(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Checks every value, before anything is read or written; returns `c`.

  Each field has a type and range (`FIELDS`, `METHOD_FIELDS`); names (method types,
  network, rotator, metric, data format) are checked against their registries, so a
  typo is one line listing the choices. Then the fields that depend on each other.
  """
  if not isinstance(c, ml_collections.ConfigDict):
    raise ConfigError(f'get_config() returned a {type(c).__name__}, not a ConfigDict; '
                      'start it from dd3d_jax.config.base_config().')
  leaves = {k: v for k, v in _leaves(c).items() if not k.startswith('methods.')}
  for field in FIELDS:
    _check(field in leaves, f'the config has no field {field}; start get_config() from '
                            'dd3d_jax.config.base_config().')
  for field, value in leaves.items():
    _check(field in FIELDS, f'{field} is not a setting of dd3d_jax; remove it from the config '
                            '(see dd3d_jax/config.py for the fields).')
    _apply(FIELDS[field], field, value)
  _check(c.distill.train_points <= c.data.num_points,
         f'distill.train_points ({c.distill.train_points}) exceeds data.num_points '
         f'({c.data.num_points}); lower it or raise data.num_points.')
  devices.check_units(c.mesh.units)
  _check(c.eval.lr_min <= c.eval.lr,
         f'eval.lr_min ({c.eval.lr_min:g}) exceeds eval.lr ({c.eval.lr:g}); the schedule decays '
         'from eval.lr to eval.lr_min: lower eval.lr_min.')
  _check(not c.data.variant or c.data.format in ('scanobjectnn_h5', 'auto'),
         f'data.variant {c.data.variant!r} only applies to ScanObjectNN; set data.variant=\'\' '
         f'for data.format {c.data.format!r}.')
  backbones = eval_backbones(c)
  _check(len(set(backbones)) == len(backbones), f'eval.backbones {c.eval.backbones!r} names a '
                                                'network twice.')
  for name in backbones:
    registry.check('networks', name, 'eval.backbones')
  methods = parse_methods(c.eval.methods)
  _check(bool(methods), f'eval.methods {c.eval.methods!r} names no method; list some of '
                        f'{", ".join(c.methods)}, comma-separated.')
  _check(len(set(methods)) == len(methods), f'eval.methods {c.eval.methods!r} names a method '
                                            'twice.')
  task = registry.get('tasks', c.task, 'task')
  for name in methods:
    settings = method_settings(c, name)  # an undefined name
    _validate_method(c, name)
    _check(does(settings.type, c.task),
           f'methods.{name} ({settings.type}) does not do {task.DESCRIPTION}; use methods of '
           f'the types {", ".join(task_methods(c.task))}.')
    module = registry.get('methods', settings.type)
    if hasattr(module, 'check'):
      module.check(settings, c, f'methods.{name}')
  if hasattr(task, 'check'):
    task.check(c, 'task')
  return c
