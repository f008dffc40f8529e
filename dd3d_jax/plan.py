"""The plan of a job: the methods of `eval.methods`, each with its runs, and plan.json.

    make_plan(config) -> [Planned(name, type, settings, num_distills, num_evals)]
    write_plan(wd, plan, backbones, dataset_name, config)   plan.json, for `dd3d_jax.tables`
    read_plan(wd) -> dict | None          plan.json as `tables` reads it (None: missing, damaged)
    writes_set(p) -> bool                whether method p's sets are saved (sets/, renders/)
    eval_epochs(config, p) -> int        the epochs method p's sets are evaluated for
    lr_field(config, name) -> (field, value)   the setting to lower when `name` diverges
"""

from __future__ import annotations

import dataclasses
import logging
import os

import ml_collections

from dd3d_jax import config as config_lib
from dd3d_jax import records, registry, tables
from dd3d_jax.errors import UserError
from dd3d_jax.workdir import Workdir

log = logging.getLogger('dd3d_jax')


@dataclasses.dataclass(frozen=True)
class Planned:
  """One method of the run: its name, type, resolved settings and evaluation runs."""
  name: str
  type: str
  settings: ml_collections.ConfigDict
  num_distills: int
  num_evals: int

  @property
  def num_runs(self) -> int:
    return self.num_distills * self.num_evals


def make_plan(config: ml_collections.ConfigDict) -> list[Planned]:
  """The methods of `eval.methods`, in order (the config must be validated)."""
  return [Planned(name, config.methods[name].type, config_lib.method_settings(config, name),
                  config.num_distills, config.eval.num_evals)
          for name in config_lib.parse_methods(config.eval.methods)]


def read_plan(wd: Workdir) -> dict | None:
  """plan.json as `dd3d_jax.tables` reads it, or None if it is missing or damaged."""
  try:
    return tables.read_plan(wd.root)
  except UserError:
    return None


def write_plan(wd: Workdir, plan: list[Planned], backbones: tuple[str, ...], dataset_name: str,
               config: ml_collections.ConfigDict) -> None:
  """plan.json: what the workdir holds or will hold, for `dd3d_jax.tables`. Methods of
  earlier runs on this workdir stay listed (their run files are still there); a damaged
  plan.json (one that `tables` refuses) is written anew, with a warning."""
  path = wd.path('plan.json')
  old = read_plan(wd)
  if old is None:
    if os.path.lexists(path):
      log.warning('%s is damaged; writing it anew from this run.', path)
    old = {'methods': [], 'types': {}, 'runs_per_method': {}, 'backbones': []}
  methods = list(dict.fromkeys([*old['methods'], *(p.name for p in plan)]))
  records.write_json(path, {
      'dataset': dataset_name, 'task': config.task, 'rotated': bool(config.data.rotated),
      'cpc': config.distill.cpc,
      'methods': methods, 'types': {**old['types'], **{p.name: p.type for p in plan}},
      'backbones': list(dict.fromkeys([*old['backbones'], *backbones])),
      'runs_per_method': {**old['runs_per_method'], **{p.name: p.num_runs for p in plan}}})


def writes_set(p: Planned) -> bool:
  """Whether method p saves its sets (sets/, renders/), known without building it: its
  module's `WRITES_SET` (default True; `full`: False)."""
  return getattr(registry.get('methods', p.type), 'WRITES_SET', True)


def eval_epochs(config: ml_collections.ConfigDict, p: Planned) -> int:
  """The epochs method p's sets are trained for: its `eval_epochs`, else `eval.epochs`."""
  return p.settings.get('eval_epochs') or config.eval.epochs


def untested_epochs(config: ml_collections.ConfigDict, plan: list[Planned]) -> list[str]:
  """A warning per evaluation length shorter than `eval.test_every`: its networks are
  tested only after their last epoch, so their best-epoch scores equal the final ones."""
  every, by_epochs = config.eval.test_every, {}
  for p in plan:
    by_epochs.setdefault(eval_epochs(config, p), []).append(p.name)
  return [f'eval.test_every={every} exceeds the {epochs} evaluation epochs of '
          f'{", ".join(names)}: their networks are tested only after the last epoch, so the '
          f'best-epoch scores equal the final ones; set --config.eval.test_every={epochs} or '
          'lower to follow the best epoch.'
          for epochs, names in sorted(by_epochs.items()) if every > epochs]


def lr_field(config: ml_collections.ConfigDict, name: str) -> tuple[str, float]:
  """The setting to lower when method `name`'s loss diverges, and its value: the one its
  module names (`DIVERGES_WITH`, default 'lr') when set, else `distill.lr`."""
  settings = config.methods[name]
  field = getattr(registry.get('methods', settings.type), 'DIVERGES_WITH', 'lr')
  if settings.get(field) is not None:
    return f'methods.{name}.{field}', settings[field]
  return 'distill.lr', config.distill.lr
