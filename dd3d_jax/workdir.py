"""One workdir: its layout, the checks that come before any work, and its repair.

    workdir/
      config.json, plan.json         the config; what the run will produce (for tables)
      checkpoints/<method>_<d>/       Orbax checkpoints of a method with steps
      sets/<method>_<d>.npz           each small set: points, labels, class_names
      renders/<method>/               one PNG per class and overview.png (d = 0), if
                                      config.render
      runs/<method>/d<d>_<backbone>_s<s>.json   one evaluation run, with its protocol
      features/e<epochs>.npz          cached features of the herding/k-center network
      experts/<fingerprint>_e<i>.npz  TM's expert trajectories (unless methods.tm.experts_dir)
      metrics.jsonl                   one line per step and per test evaluation
      tensorboard/                    its lines and the sets as TensorBoard events, if
                                      config.tensorboard (`dd3d_jax.tensorboard`)
      loss.png, results.json          loss curves; the summary per method
      .lock                           the running job's host and process (`dd3d_jax.lock`)

`check(wd, config, protocols, backbones)` reads everything there and writes nothing: a
folder that cannot be written, a disk about full, a file where a folder belongs (or the
reverse), a damaged file, or runs made with other settings stop the job in one line
that says what to do, before the data is loaded (the job holds the workdir's lock,
`dd3d_jax.lock`, from before this check to its end).
`repair(wd)` then drops a torn last line of the append-only log. `Workdir.cache` keeps the
arrays computed once per workdir (features/, experts/) in .npz files.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile

import ml_collections
import numpy as np

from dd3d_jax import evaluate, tasks
from dd3d_jax import config as config_lib
from dd3d_jax import records
from dd3d_jax.errors import ConfigError, UserError

log = logging.getLogger('dd3d_jax')

# Fields that never change a result: how many runs, where the data lives, how often to
# log or checkpoint, whether to write TensorBoard events or pictures, how classes are
# batched or split over devices (the same function).
# The evaluation settings are compared per run file (each records its protocol), not
# here. Every other field must match the workdir's config.json for it to be resumed.
NOT_RESULTS = ('num_distills', 'eval.', 'data.path', 'distill.log_every',
               'distill.checkpoint_every', 'distill.keep_checkpoints', 'distill.class_chunk',
               'mesh.', 'tensorboard', 'render')
# What a run file that predates a protocol field was evaluated with: the field's default
# (a new field's default is the behaviour before it existed).
FIELD_DEFAULTS = evaluate.protocol_record(evaluate.Protocol())
MIN_FREE_BYTES = 64 << 20  # refuse to start on a disk with less free space than this
# The layout's files and folders, checked to be of their kind before any work.
FILES = ('config.json', 'plan.json', 'results.json', 'metrics.jsonl', 'loss.png')
FOLDERS = ('checkpoints', 'sets', 'runs', 'renders', 'features', 'experts', 'tensorboard')


def flatten(d: dict, prefix: str = '') -> dict:
  """{'a': {'b': 1}} -> {'a.b': 1} (tuples become lists, as in JSON)."""
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(flatten(v, f'{prefix}{k}.'))
    else:
      out[f'{prefix}{k}'] = list(v) if isinstance(v, tuple) else v
  return out


def _is_result_field(k: str) -> bool:
  return not (k.endswith(('.eval_epochs', '.experts_dir')) or any(
      k == f or (f.endswith('.') and k.startswith(f)) for f in NOT_RESULTS))


def _first_line(e: BaseException) -> str:
  text = str(e).strip()
  return text.splitlines()[0][:200] if text else type(e).__name__


class Workdir:
  """Paths and files of one workdir (see the module docstring)."""

  def __init__(self, root: str):
    self.root = root

  def path(self, *parts: str) -> str:
    return os.path.join(self.root, *parts)

  def run_file(self, method: str, d: int, backbone: str, s: int) -> str:
    return self.path('runs', method, f'd{d}_{backbone}_s{s}.json')

  def set_file(self, method: str, d: int) -> str:
    return self.path('sets', f'{method}_{d}.npz')

  def read_run(self, path: str) -> dict:
    try:
      with open(path) as f:
        run = json.load(f)
      if not isinstance(run, dict):
        raise ValueError('not a JSON object')
      head = f'final_{tasks.module(run.get("task", "classification")).SCORES[0]}'
      if head not in run:  # the task's headline score
        raise ValueError(f'no {head}')
      return run
    except (OSError, ValueError) as e:
      raise UserError(f'{path} is damaged ({_first_line(e)}); delete it and run the command '
                      'again to redo that evaluation.') from None

  def missing_runs(self, name: str, num_distills: int, num_evals: int, backbone: str,
                   redo: bool) -> dict[int, list[int]]:
    """d -> the evaluation indices without a result file (all of them if `redo`)."""
    out = {}
    for d in range(num_distills):
      todo = [s for s in range(num_evals)
              if redo or not os.path.exists(self.run_file(name, d, backbone, s))]
      if todo:
        out[d] = todo
    return out

  def read_runs(self, name: str, num_distills: int, num_evals: int, backbone: str
                ) -> list[dict]:
    """The finished evaluation runs of one method."""
    paths = [self.run_file(name, d, backbone, s) for d in range(num_distills)
             for s in range(num_evals)]
    return [self.read_run(p) for p in paths if os.path.exists(p)]

  def cache(self, path: str, make) -> dict:
    """`cache(path, make)` of `methods.Context`: the arrays of the .npz file at `path`
    under the workdir (or at an absolute path), or `make()`'s, written there first
    (atomically); a damaged file is refused in one line."""
    path = os.path.join(self.root, path)
    if os.path.exists(path):
      try:
        with np.load(path) as f:
          return {k: f[k] for k in f.files}
      except Exception as e:  # zipfile, numpy and OS errors alike
        raise UserError(f'{path} is damaged ({type(e).__name__}); delete it and run '
                        'the command again to compute it anew.') from None
    arrays = make()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    records.write_npz(path, **arrays)
    return arrays


def check_location(root: str) -> None:
  """Refuses, in one line, a workdir that is not (and cannot become) a folder we can
  write on a disk with room (`UserError`)."""
  if not root:
    raise UserError('--workdir is empty; pass the path of a folder for the run (it is created '
                    'if needed).')
  if os.path.exists(root) and not os.path.isdir(root):
    raise UserError(f'--workdir {root} is a file, not a folder; pass a folder path.')
  existing = os.path.abspath(root)
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    raise UserError(f'--workdir {root} lies inside the file {existing}; pass a folder path.')
  try:  # an unnamed temporary file: nothing is left behind, even if we are killed
    with tempfile.TemporaryFile(dir=existing):
      pass
  except OSError as e:
    raise UserError(f'--workdir {root} cannot be written ({existing}: '
                    f'{e.strerror or _first_line(e)}); pass a folder you can write to.') from None
  free = shutil.disk_usage(existing).free
  if free < MIN_FREE_BYTES:
    raise UserError(f'--workdir {root}: only {free >> 20} MiB free on its disk (at least '
                    f'{MIN_FREE_BYTES >> 20} MiB needed); free some space or pass a folder on '
                    'another disk.')


def _planned_methods(wd: Workdir) -> set[str] | None:
  """The methods earlier jobs in this workdir set out to run (plan.json), or None."""
  try:
    with open(wd.path('plan.json')) as f:
      return set(json.load(f)['methods'])
  except (OSError, ValueError, KeyError, TypeError):
    return None  # absent, or damaged (repaired later): every method's settings count


def _check_config(wd: Workdir, config: ml_collections.ConfigDict) -> dict | None:
  """The saved config (flattened), after refusing one made with other settings.

  A method's own settings count only if an earlier job here ran that method: a
  changed default of a method that never ran in this workdir changes no result.
  """
  path = wd.path('config.json')
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      saved = flatten(json.load(f))
  except (OSError, ValueError, AttributeError) as e:
    raise UserError(f'{path} is damaged ({_first_line(e)}); it records the settings of the '
                    f'runs in {wd.root}: if this command has the same settings, delete it and '
                    'run again, else use a new --workdir.') from None
  now = flatten(json.loads(config.to_json()))
  # A field added to the code since the workdir was made had its default value there.
  def added(k):
    if k in saved:
      return False
    return not k.startswith('methods.') or f'methods.{k.split(".")[1]}.type' in saved

  defaults = flatten(json.loads(config_lib.base_config().to_json()))
  saved = {**{k: v for k, v in defaults.items() if added(k)}, **saved}

  planned = _planned_methods(wd)

  def compared(k):
    parts = k.split('.')
    return _is_result_field(k) and (parts[0] != 'methods' or (
        f'methods.{parts[1]}.type' in saved and f'methods.{parts[1]}.type' in now
        and (planned is None or parts[1] in planned)))

  diffs = [f'{k}: {saved.get(k)!r} -> {now.get(k)!r}' for k in sorted(set(saved) | set(now))
           if compared(k) and saved.get(k) != now.get(k)]
  if diffs:
    raise ConfigError(f'{wd.root} holds runs made with other settings ({"; ".join(diffs[:3])}'
                      f'{"; ..." if len(diffs) > 3 else ""}); use a new --workdir.')
  return saved


def _check_kinds(wd: Workdir, names: list[str], num_distills: int) -> None:
  """Each file of the layout that exists is a file and each folder a folder."""
  for name in FILES:
    if os.path.isdir(wd.path(name)):
      raise UserError(f'{wd.path(name)} is a folder, where the run keeps a file; move it out of '
                      'the workdir and run the command again.')
  folders = [*FOLDERS, *(os.path.join(f, n) for n in names for f in ('runs', 'renders')),
             *(os.path.join('checkpoints', f'{n}_{d}') for n in names for d in range(num_distills))]
  for name in folders:
    if os.path.lexists(wd.path(name)) and not os.path.isdir(wd.path(name)):
      raise UserError(f'{wd.path(name)} is a file, where the run keeps a folder; move it out of '
                      'the workdir and run the command again.')


def _check_npz(path: str, keys: tuple[str, ...], fix: str) -> None:
  try:
    with np.load(path) as f:
      for k in keys:
        f[k]  # reading decompresses and checks the zip CRC
  except Exception as e:  # zipfile, numpy and OS errors alike
    raise UserError(f'{path} is damaged ({_first_line(e)}); delete it and run the command '
                    f'again: {fix}.') from None


def _npz_files(folder: str) -> list[str]:
  if not os.path.isdir(folder):
    return []
  return [os.path.join(folder, n) for n in sorted(os.listdir(folder))
          if n.endswith('.npz') and not n.endswith('.tmp.npz')]


def _describe(a: dict, b: dict) -> str:
  return '; '.join(f'eval.{k}: {a.get(k)!r} -> {b.get(k)!r}' for k in sorted(set(a) | set(b))
                   if a.get(k) != b.get(k))


def check(wd: Workdir, config: ml_collections.ConfigDict, protocols: dict[str, dict],
          backbones: tuple[str, ...]) -> None:
  """Refuses, in one line and before anything is written, a workdir this job cannot use.

  Args:
    wd: the workdir (it need not exist).
    config: the validated config of this job.
    protocols: method name -> the evaluation protocol (a dict) its runs get now.
    backbones: the evaluation networks.
  Raises:
    UserError: the location is empty, cannot be written or its disk is about full; a
      file of the layout is a folder or a folder a file; a file is damaged (naming it
      and what to do); the runs were made with other result settings; or runs were
      evaluated with other evaluation settings and `eval.reevaluate` is off.
  """
  check_location(wd.root)
  if not os.path.isdir(wd.root):
    return
  _check_kinds(wd, list(protocols), config.num_distills)
  saved = _check_config(wd, config)
  records.read_jsonl(wd.path('metrics.jsonl'))  # a damaged line before the last one
  for path in _npz_files(wd.path('sets')):
    key = tasks.module(config.task).SET_KEY
    _check_npz(path, ('points', 'labels', *([key] if key else [])),
               'the set is exported again from its checkpoint')
  for path in _npz_files(wd.path('features')):
    _check_npz(path, ('features',), 'the feature network is trained again')
  for path in _npz_files(wd.path('experts')):
    _check_npz(path, ('losses',), 'that expert is trained again')
  legacy = None
  if saved is not None:  # run files written before runs recorded their protocol
    legacy = {k[len('eval.'):]: v for k, v in saved.items() if k.startswith('eval.')}
  stale = []
  for name, protocol in protocols.items():
    folder = wd.path('runs', name)
    for n in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
      if not (n.endswith('.json') and any(f'_{b}_s' in n for b in backbones)):
        continue
      run = wd.read_run(os.path.join(folder, n))
      was = run.get('protocol') or protocol
      if 'protocol' not in run and legacy is not None:
        was = {**legacy, 'epochs': saved.get(f'methods.{name}.eval_epochs') or legacy['epochs']}
      # a field newer than the run file (`densify`) counts at its default
      was = {k: was.get(k, FIELD_DEFAULTS.get(k)) for k in protocol}
      if was != protocol:
        stale.append(f'{name}/{n}: {_describe(was, protocol)}')
  if stale and not config.eval.reevaluate:
    raise ConfigError(f'{len(stale)} runs in {wd.root} were evaluated with other evaluation '
                      f'settings ({stale[0]}); add --config.eval.reevaluate=True to evaluate the '
                      'sets again with these (the run files are replaced), or use a new '
                      '--workdir.')


def repair(wd: Workdir) -> None:
  """Drops a torn last line of metrics.jsonl (a write cut short), saying so."""
  path = wd.path('metrics.jsonl')
  if not os.path.exists(path):
    return
  with open(path, 'rb') as f:
    raw = f.read()
  if not raw or raw.endswith(b'\n'):
    return
  lines = records.read_jsonl(path)
  torn = raw.rsplit(b'\n', 1)[-1]
  try:
    json.loads(torn)
  except ValueError:
    log.warning('%s: dropped a torn last line (%d bytes) of an interrupted write.', path,
                len(torn))
  records.write_jsonl(path, lines)
