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

import copy
import glob
import os
import re
import sys


import ml_collections

from dd3d_jax import devices, fields, registry
from dd3d_jax.errors import ConfigError
from dd3d_jax.fields import (BOOL, NON_NEGATIVE, OPTIMIZER, POSITIVE, STRING, choice, integer,
                             number, registered)

# The methods of the paper's Table 1, in its column order, and the upper bound.
TABLE1_METHODS = 'random,herding,kcenter,gm,dm,tm,dd3d,full'


def does(method, task: str) -> bool:
  """Whether `method` (a method type, or a plug-in module) does `task`: its module's
  `TASKS` names it, or is '*' (a selection of real clouds does every task)."""
  module = registry.get('methods', method) if isinstance(method, str) else method
  tasks = getattr(module, 'TASKS', ('classification',))
  return tasks == '*' or task in tasks


def task_methods(task: str) -> tuple[str, ...]:
  """The method types that do `task` (`does`): Table 1's first, in its order, then the
  others by name."""
  order = TABLE1_METHODS.split(',')
  found = [name for name in registry.names('methods') if does(name, task)]
  return tuple(sorted(found, key=lambda n: (order.index(n) if n in order else len(order), n)))


def default_methods() -> ml_collections.ConfigDict:
  """One entry per registered method, named as its type, with its module's `DEFAULTS`
  (the paper's settings).

  None (`fields.inherit`) means "the `distill` field of the same name"; a method's own
  `iterations` of 0 evaluates its set as initialised. DC's own optimiser settings for
  GM and DM are `use_dc_settings(config)` (a config variant).
  """
  return ml_collections.ConfigDict({
      name: {'type': name, **{k: fields.default_value(v)
                              for k, v in registry.get('methods', name).DEFAULTS.items()},
             'networks': None}
      for name in registry.names('methods')})


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
    entry = copy.deepcopy(c.methods.dd3d)  # keeps the typed None placeholders: flags can set them
    entry.update(init=init, objective=objective)
    if objective != 'gm':
      entry.iterations = updates
    c.methods[name] = entry
  return c



# DD3D's part-segmentation candidates ("beyond the paper"): name -> the `dd3d` settings
# they change. `part_latents` gives each part of a cloud its own code (a part-conditioned
# generator), `init='real'` first fits every part to the same part of a real cloud.
PART_VARIANTS = {'dd3d_real': {'init': 'real'}, 'dd3d_parts': {'part_latents': True},
                 'dd3d_real_parts': {'init': 'real', 'part_latents': True}}


def add_part_variants(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Adds the methods of `PART_VARIANTS`: `dd3d`'s settings with theirs changed. Pick
  them with `eval.methods`."""
  for name, changes in PART_VARIANTS.items():
    entry = copy.deepcopy(c.methods.dd3d)  # keeps the typed None placeholders: flags can set them
    entry.update(changes)
    c.methods[name] = entry
  return c

# Table 3's networks, the order of its columns.
TABLE3_BACKBONES = 'pointnet,pointnet2,dgcnn,pct,pointmlp,pointnext'

# What might make a learned set train every network ("beyond the paper"), each an
# ingredient off by default, as methods of their own: name -> (type, settings). `_nets`
# matches under PointNet and DGCNN in turn (a global and a neighbourhood network; the
# other four networks of Table 3 are held out), `gm_aug` adds DSA's siamese
# augmentation to GM, `dm_plain` takes it away from DM (DM augments by default) and
# `dm_drop` adds point dropout to it (up to PointNet++'s 87.5 % of the points),
# `dm_layers` matches every stage's mean feature, not only the global one, `dm_dense`
# distils at the test clouds' 1,024 points instead of 256 (4x the step). And a control,
# not an ingredient: `random_sparse`, the random coreset's clouds cut to the tensor sets'
# 256 points and densified as they are, shows how much of a tensor set's loss on the
# other networks its resolution alone explains.
TRANSFER_VARIANTS = {'gm_aug': ('gm', {'augment': True}),
                     'gm_nets': ('gm', {'networks': 'pointnet,dgcnn'}),
                     'dm_plain': ('dm', {'augment': False}),
                     'dm_drop': ('dm', {'augment_dropout': 0.875}),
                     'dm_layers': ('dm', {'layers': True}),
                     'dm_nets': ('dm', {'networks': 'pointnet,dgcnn'}),
                     'dm_dense': ('dm', {'train_points': 1024}),
                     'random_sparse': ('random', {'resolution': 256})}


def add_transfer_variants(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Adds the methods of `TRANSFER_VARIANTS`: their type's settings with theirs changed.
  Pick them with `eval.methods`."""
  for name, (kind, changes) in TRANSFER_VARIANTS.items():
    entry = copy.deepcopy(c.methods[kind])
    entry.update(changes)
    c.methods[name] = entry
  return c


def use_table3_eval(c: ml_collections.ConfigDict, epochs: int = 10) -> ml_collections.ConfigDict:
  """Table 3 at a CPU budget: every set trains each of its six networks
  (`TABLE3_BACKBONES`) for `epochs` epochs in batches of 8 (test batches of 32, which
  the heavier networks fit), brought up to the test resolution first (`eval.densify`),
  with the evaluation's Adam, cosine schedule and augmentation."""
  c.eval.update(backbones=TABLE3_BACKBONES, epochs=epochs, batch_size=8, test_batch=32,
                densify=True, test_every=epochs)
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
  c.tensorboard = False             # also write metrics and the distilled clouds as
                                    # TensorBoard events under <workdir>/tensorboard;
                                    # pip install 'dd3d_jax[tensorboard]'
  c.render = True                   # PNG pictures of every method's first set under
                                    # <workdir>/renders (about 10 s for 10 x 10 clouds)

  c.mesh = ml_collections.ConfigDict()
  c.mesh.units = 0                  # devices of all processes to split over (0: all)

  c.data = ml_collections.ConfigDict()
  c.data.format = 'shapes'          # see dd3d_jax.data.READERS, or 'auto' (detect from path)
  c.data.path = ''
  c.data.variant = ''               # ScanObjectNN: 'obj_bg' ('' too) | 'obj_only' | 'pb_t50_rs'
  c.data.num_points = 1024          # cloud resolution; also the evaluation resolution
  c.data.rotated = False            # rotated setting: random SO(3) + PCA, rotator on
  c.data.seed = 0                   # subsampling and rotated-setting rotations
  c.data.allow_resample = False     # clouds of different sizes (class_folders, ragged npz,
                                    # shapenetpart_txt, mvpnet): pad those with fewer than
                                    # num_points points by resampling their own points
                                    # (with replacement) instead of failing
  c.data.name = ''                  # what logs, plan.json and tables call the data
                                    # ('': the reader's name, e.g. 'modelnet40')
  c.data.test_fraction = 0.2        # data without a split (class_folders, one-set npz):
                                    # each class's share that tests (seeded by data.seed)
  c.data.scale = 'unit_sphere'      # each cloud into the unit sphere (paper), or 'dataset':
                                    # one factor for all, so that size stays a cue
  c.data.shapes = ml_collections.ConfigDict({'num_train_per_class': 100,
                                             'num_test_per_class': 40,
                                             'max_crop': 0.0,  # partial views, see data.shapes
                                             'family': 'objects'})  # or 'tools': data.shapes

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
  c.distill.networks = ''           # networks a learned set is matched under, comma-separated;
                                    # several: one per step in turn; '' = model.arch
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
  c.eval.densify = False            # bring sets of fewer points up to the test clouds' first
  c.eval.test_every = 1
  c.eval.test_batch = 256
  c.eval.methods = 'dd3d,random'    # comma-separated names of `methods` entries to run
  c.eval.backbones = ''             # networks that evaluate every set, comma-separated
                                    # (dd3d_jax.models); '' = model.arch
  c.eval.reevaluate = False         # evaluate every set again (run files are replaced)

  c.methods = default_methods()
  return c


def config_files() -> dict[str, str]:
  """The shipped config files by name ('modelnet40' -> its path): the checkout's
  `configs/` beside the package, or the copy installed with it
  (`<prefix>/share/dd3d_jax/configs`)."""
  here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  found = {}
  for folder in (os.path.join(sys.prefix, 'share', 'dd3d_jax', 'configs'),
                 os.path.join(here, 'configs')):
    for path in sorted(glob.glob(os.path.join(folder, '*.py'))):
      found[os.path.basename(path)[:-3]] = path
  return found


def resolve_config(arg: str) -> str:
  """`--config`'s value with a shipped config's name (`modelnet40:cpc=10`) replaced by
  its path; a path is kept."""
  name, colon, variant = arg.partition(':')
  if os.sep in name or name.endswith('.py') or os.path.exists(name):
    return arg
  files = config_files()
  if name not in files:
    raise ConfigError(f'--config={name} is neither a file nor a shipped config; pass a path '
                      f'or one of {", ".join(files)}.')
  return files[name] + colon + variant


def describe() -> str:
  """Every config field with its default, for `--help`."""
  c = base_config()
  lines = ['Config fields (--config.FIELD=VALUE) and their defaults:']
  for key, value in sorted(_leaves(c).items()):
    lines.append(f'  {key} = {value!r}')
  return '\n'.join(lines)


def parse_variant(arg: str | None, allowed: dict[str, type]) -> dict:
  """Parses "cpc=10,rotated" into {'cpc': 10, 'rotated': True}.

  Args:
    arg: the text after ':' in `--config=file.py:arg` (None or '' for defaults).
    allowed: name -> type (bool names may appear alone: `rotated` is `rotated=true`).
  Raises:
    ConfigError: an unknown or repeated name, an empty value, a value of the wrong type
      (a bool takes true/false, yes/no, 1/0).
  """
  out = {}
  for item in filter(None, (arg or '').split(',')):
    name, equals, value = (part.strip() for part in item.partition('='))
    if name not in allowed:
      raise ConfigError(f'config variant {name!r} is unknown; use {sorted(allowed)} '
                        f'(e.g. --config=configs/modelnet40.py:cpc=10,rotated).')
    if name in out:
      raise ConfigError(f'config variant {name} is given twice ({arg!r}); give it once.')
    kind = allowed[name]
    if kind is bool and not equals:
      out[name] = True
      continue
    if not value:
      raise ConfigError(f'config variant {name}= has no value; write e.g. '
                        f'{name}={"true" if kind is bool else 10}.')
    if kind is bool:
      truth = {'true': True, 'yes': True, '1': True, 'false': False, 'no': False, '0': False}
      if value.lower() not in truth:
        raise ConfigError(f'config variant {name}={value!r} is not true or false; write '
                          f'{name}=true, {name}=false or {name} alone.')
      out[name] = truth[value.lower()]
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


def distill_networks(settings: ml_collections.ConfigDict) -> tuple[str, ...]:
  """The networks a method's set is matched under, from its settings (`method_settings`):
  its `networks` (else `distill.networks`), parsed; () means `model.arch`."""
  return parse_methods(settings.get('networks') or '')


def eval_backbones(c: ml_collections.ConfigDict) -> tuple[str, ...]:
  """The evaluation networks: `eval.backbones`, or `model.arch` if it is empty."""
  return parse_methods(c.eval.backbones) or (c.model.arch,)


def loops_for(table: dict[int, tuple[int, int]], cpc: int, what: str) -> tuple[int, int]:
  """(outer_loop, inner_loop) for a CPC from a reference table."""
  if cpc not in table:
    raise ConfigError(f'{what} has reference loops for cpc in {sorted(table)}, not {cpc}; '
                      'pick one of those or set distill.outer_loop/inner_loop yourself.')
  return table[cpc]


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


SEEDS = 2 ** 63  # seeds are int64 (a PRNG key takes no more)
NAME = fields.Rule(lambda v: isinstance(v, str) and bool(re.fullmatch(r'([\w.-]{1,64})?', v)),
                   "'' or a name of at most 64 letters, digits, '_', '.' or '-'")
# Every field of `base_config()` but `methods`, and what it accepts.
FIELDS = {
    'seed': integer(0, below=SEEDS), 'task': registered('tasks'), 'num_distills': integer(1),
    'matmul_precision': choice('default', 'high', 'highest'), 'tensorboard': BOOL,
    'render': BOOL, 'mesh.units': integer(0),
    'data.format': registered('data formats'), 'data.path': STRING,
    'data.variant': choice('', 'obj_bg', 'obj_only', 'pb_t50_rs'),
    'data.num_points': integer(1), 'data.rotated': BOOL, 'data.seed': integer(0, below=SEEDS),
    'data.allow_resample': BOOL, 'data.name': NAME,
    'data.test_fraction': number(0, above=True, below=1),
    'data.scale': choice('unit_sphere', 'dataset'),
    'data.shapes.num_train_per_class': integer(1), 'data.shapes.num_test_per_class': integer(1),
    'data.shapes.max_crop': number(0, below=1),
    'data.shapes.family': choice('objects', 'tools'),
    'model.arch': registered('networks'), 'model.rotator': registered('rotators'),
    'model.w0_sign': POSITIVE, 'model.rotator_frequencies': integer(1),
    'model.rotator_tau': POSITIVE,
    'distill.cpc': integer(1), 'distill.iterations': integer(1), 'distill.outer_loop': integer(1),
    'distill.inner_loop': integer(0), 'distill.batch_real': integer(1),
    'distill.train_points': integer(1), 'distill.lr': POSITIVE,
    'distill.weight_decay': NON_NEGATIVE, 'distill.lr_net': POSITIVE,
    'distill.batch_syn': integer(1), 'distill.metric': registered('metrics'),
    'distill.class_chunk': fields.Rule(lambda v: fields.is_int(v) and v >= -1,
                                       '-1 (auto), 0 (one vmap) or a chunk size'),
    'distill.augment_real': BOOL, 'distill.networks': STRING, 'distill.checkpoint_every': integer(1),
    'distill.keep_checkpoints': integer(1), 'distill.log_every': integer(1),
    'eval.num_evals': integer(1), 'eval.epochs': integer(1), 'eval.batch_size': integer(1),
    'eval.optimizer': OPTIMIZER, 'eval.lr': POSITIVE, 'eval.lr_min': NON_NEGATIVE,
    'eval.weight_decay': NON_NEGATIVE, 'eval.schedule': choice('cosine', 'step'),
    'eval.augment': BOOL, 'eval.densify': BOOL, 'eval.test_every': integer(1), 'eval.test_batch': integer(1),
    'eval.methods': STRING, 'eval.backbones': STRING, 'eval.reevaluate': BOOL,
}
# The settings every `methods.NAME` entry may have beside its module's own.
COMMON_METHOD_FIELDS = {
    'eval_epochs': integer(1),  # epochs of its evaluation runs (None: eval.epochs)
    'networks': STRING,  # networks its set is matched under (None: distill.networks)
}


def _leaves(d: ml_collections.ConfigDict, prefix: str = '') -> dict:
  out = {}
  for k, v in d.items():
    if isinstance(v, ml_collections.ConfigDict):
      out.update(_leaves(v, f'{prefix}{k}.'))
    else:
      out[f'{prefix}{k}'] = v
  return out


def _validate_method(c: ml_collections.ConfigDict, name: str) -> None:
  """The type of `methods.<name>` is registered and each of its settings is one its
  module declares (`FIELDS`, or `fields_of(entry, where)`; any method takes `eval_epochs`)
  and in range."""
  entry, where = c.methods[name], f'methods.{name}'
  if 'type' not in entry:
    raise ConfigError(f'{where} has no type; set {where}.type to one of '
                      f'{", ".join(registry.names("methods"))}.')
  module = registry.get('methods', entry.type, f'{where}.type')
  rules = {**COMMON_METHOD_FIELDS, **(module.fields_of(entry, where)
                                      if hasattr(module, 'fields_of')
                                      else getattr(module, 'FIELDS', {}))}
  for k, v in entry.items():
    if k == 'type':
      continue
    _check(k in rules, f'{where}.{k} is not a setting of {entry.type}; remove it (its settings '
                       f'are {", ".join(sorted(rules))}).')
    if v is not None:
      fields.check(rules[k], f'{where}.{k}', v)
    else:  # None: the `distill` (or `eval`) field of the same name, where there is one
      inherits = {k for k, d in getattr(module, 'DEFAULTS', {}).items()
                  if isinstance(d, fields.Inherit)}
      _check(k in c.distill or k in inherits or k in COMMON_METHOD_FIELDS,
             f'{where}.{k} is None, but no distill field {k} stands in for it; give it a '
             'value.')


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
    fields.check(FIELDS[field], field, value)
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
    networks = distill_networks(settings)
    _check(len(set(networks)) == len(networks), f'methods.{name}.networks '
                                                f'{settings.networks!r} names a network twice.')
    for network in networks:
      registry.check('networks', network, f'methods.{name}.networks')
    module = registry.get('methods', settings.type)
    if hasattr(module, 'check'):
      module.check(settings, c, f'methods.{name}')
  if hasattr(task, 'check'):
    task.check(c, 'task')
  return c
