"""The configuration shared by all `configs/*.py`, its validation and variant parsing.

A config file's `get_config(arg)` starts from `base_config()`, sets the dataset's
reference values, and applies a variant string such as "cpc=10,rotated".
Any field can then be overridden on the command line, e.g.
`--config.distill.iterations=50 --config.data.path=/data/modelnet40_ply_hdf5_2048`.
"""

from __future__ import annotations

import jax
import ml_collections

from dd3d_jax.errors import ConfigError

METRICS = ('ours', 'mse', 'cos')
ROTATORS = ('fixed', 'learnable', 'none')
# dd3d: the distilled set; random: a random coreset of the same size; full: all training clouds.
METHODS = ('dd3d', 'random', 'full')


def base_config() -> ml_collections.ConfigDict:
  """Defaults: the authors' code (ModelNet40 values where they depend on the dataset)."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.num_distills = 1                # independent distillations (paper: 2)
  c.matmul_precision = 'default'    # or 'highest' (full float32 matmuls on GPU/TPU)

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
  c.distill.w0_initial = 100.0
  c.distill.hidden = 256
  c.distill.num_layers = 2
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
  c.eval.methods = 'dd3d,random'    # comma-separated METHODS; without dd3d nothing is distilled
  c.eval.reevaluate = False         # re-run evaluation of a finished run
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
        raise ConfigError(f'config variant {name}={value!r} is not a {kind.__name__}.') from None
  return out


def parse_methods(methods: str) -> tuple[str, ...]:
  """'dd3d, random' -> ('dd3d', 'random')."""
  return tuple(m.strip() for m in methods.split(',') if m.strip())


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


def _check(ok: bool, message: str) -> None:
  if not ok:
    raise ConfigError(message)


def validate(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Checks every value that would otherwise fail deep inside a run; returns `c`."""
  positive = {'num_distills': c.num_distills, 'data.num_points': c.data.num_points,
              'distill.cpc': c.distill.cpc, 'distill.iterations': c.distill.iterations,
              'distill.outer_loop': c.distill.outer_loop,
              'distill.batch_real': c.distill.batch_real,
              'distill.train_points': c.distill.train_points,
              'distill.batch_syn': c.distill.batch_syn, 'distill.hidden': c.distill.hidden,
              'distill.num_layers': c.distill.num_layers,
              'distill.checkpoint_every': c.distill.checkpoint_every,
              'distill.keep_checkpoints': c.distill.keep_checkpoints,
              'distill.log_every': c.distill.log_every, 'eval.num_evals': c.eval.num_evals,
              'eval.epochs': c.eval.epochs, 'eval.batch_size': c.eval.batch_size,
              'eval.test_every': c.eval.test_every, 'eval.test_batch': c.eval.test_batch}
  for name, value in positive.items():
    _check(isinstance(value, int) and value > 0, f'{name} must be a positive integer, got {value!r}.')
  for name, value in {'distill.lr': c.distill.lr, 'distill.lr_net': c.distill.lr_net,
                      'eval.lr': c.eval.lr, 'distill.w0_initial': c.distill.w0_initial,
                      'model.w0_sign': c.model.w0_sign}.items():
    _check(value > 0, f'{name} must be > 0, got {value!r}.')
  _check(c.distill.inner_loop >= 0, f'distill.inner_loop must be >= 0, got {c.distill.inner_loop}.')
  _check(c.distill.class_chunk >= -1,
         f'distill.class_chunk must be -1 (auto), 0 (one vmap) or a chunk size, '
         f'got {c.distill.class_chunk}.')
  _check(c.distill.train_points <= c.data.num_points,
         f'distill.train_points ({c.distill.train_points}) exceeds data.num_points '
         f'({c.data.num_points}); lower it or raise data.num_points.')
  _check(c.distill.metric in METRICS,
         f'distill.metric {c.distill.metric!r} is unknown; use one of {METRICS}.')
  _check(c.model.rotator in ROTATORS,
         f'model.rotator {c.model.rotator!r} is unknown; use one of {ROTATORS}.')
  _check(c.eval.optimizer in ('adam', 'sgd'),
         f"eval.optimizer {c.eval.optimizer!r} is unknown; use 'adam' or 'sgd'.")
  _check(c.eval.schedule in ('cosine', 'step'),
         f"eval.schedule {c.eval.schedule!r} is unknown; use 'cosine' or 'step'.")
  methods = parse_methods(c.eval.methods)
  _check(bool(methods) and set(methods) <= set(METHODS),
         f'eval.methods {c.eval.methods!r} must list some of {METHODS}, comma-separated.')
  _check(c.matmul_precision in ('default', 'high', 'highest'),
         f"matmul_precision {c.matmul_precision!r} is unknown; use 'default', 'high' or 'highest'.")
  return c
