"""Distilled sets out of a workdir, in formats other tools read.

    python -m dd3d_jax.export WORKDIR [--method dd3d] [--distill 0] [--format ply]
                              [--points 2048] [--metric] [--out DIR]

writes, for each chosen method and distillation index, `OUT/<method>_<d>/` (default OUT:
`WORKDIR/export`) holding:

- `ply`: one ASCII `.ply` per cloud, `<class>_<i>.ply` (vertex x, y, z; for part
  segmentation also `part`, the part id, and red, green, blue, its colour);
- `xyz`: one `.xyz` text file per cloud (`x y z`, or `x y z part`);
- `h5`: the ModelNet40 h5 layout (`ply_data_train0.h5` with `data` [M, N, 3] float32,
  `label` [M, 1] int64 and, for parts, `pid` [M, N]; `shape_names.txt`;
  `train_files.txt`), with the workdir's real test split beside it
  (`ply_data_test0.h5`, `test_files.txt`), prepared as the run prepared it, so that
  `data.format=modelnet40_h5` (this package's or PointNet's own training code) trains on
  the set and tests on the real clouds;
- `npz`: `points`, `labels`, `class_names` (and the task's targets), as `sets/` holds.

`--metric` multiplies the clouds by the data's scale, back to its units, where the job
kept one (`data.scale=dataset`: one factor for every cloud); with the unit sphere each
cloud had its own, and asking is refused in one line. `--points N` exports a set again at N points from the last checkpoint of its
distillation, as the job exported it (the same noise key), where its method emits any
resolution (DD3D's generator and its variants), and also writes `generator.npz`: the
set's parameters, one array per leaf named by its path (`embedding`, `mod_0/kernel`,
...: a `generator.ModulatedSiren` of the config's `hidden`, `num_layers`, `w0_initial`,
applied to uniform noise in [0, 1) (`noise_dim` values per point,
`generator.sample_noise`); each cloud then scaled into the unit sphere). Other sets have
one resolution: asking them for another is refused in one line.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Sequence

import h5py
import jax
import ml_collections
import numpy as np

from dd3d_jax import cli, distill, keys, records, render, tables
from dd3d_jax import config as config_lib
from dd3d_jax import data as data_lib
from dd3d_jax import methods as methods_lib
from dd3d_jax import tasks as tasks_lib
from dd3d_jax.checkpoint import Checkpointer
from dd3d_jax.errors import UserError
from dd3d_jax.workdir import Workdir

FORMATS = ('ply', 'xyz', 'h5', 'npz')


def write_ply(path: str, points: np.ndarray, parts: np.ndarray | None = None) -> None:
  """An ASCII PLY of one cloud [N, 3]; with `parts` [N], a `part` property and colours."""
  header = ['ply', 'format ascii 1.0', f'element vertex {len(points)}',
            'property float x', 'property float y', 'property float z']
  rows = [f'{x:.6g} {y:.6g} {z:.6g}' for x, y, z in points]
  if parts is not None:
    header += ['property int part', 'property uchar red', 'property uchar green',
               'property uchar blue']
    colours = (render.part_colors(parts)[:, :3] * 255).round().astype(int)
    rows = [f'{row} {p} {r} {g} {b}' for row, p, (r, g, b) in zip(rows, parts, colours)]
  with open(path, 'w') as f:
    f.write('\n'.join([*header, 'end_header', *rows]) + '\n')


def write_xyz(path: str, points: np.ndarray, parts: np.ndarray | None = None) -> None:
  """One cloud [N, 3] as text, `x y z` per line (and the part id with `parts`)."""
  columns = points if parts is None else np.column_stack([points, parts])
  np.savetxt(path, columns, fmt=['%.6g'] * 3 + ([] if parts is None else ['%d']))


def write_h5_split(folder: str, split: str, points: np.ndarray, labels: np.ndarray,
                   parts: np.ndarray | None) -> None:
  """`ply_data_<split>0.h5` and `<split>_files.txt` of the ModelNet40 h5 layout."""
  name = f'ply_data_{split}0.h5'
  with h5py.File(os.path.join(folder, name), 'w') as f:
    f.create_dataset('data', data=np.asarray(points, np.float32))
    f.create_dataset('label', data=np.asarray(labels, np.int64)[:, None])
    if parts is not None:
      f.create_dataset('pid', data=np.asarray(parts, np.int64))
  with open(os.path.join(folder, f'{split}_files.txt'), 'w') as f:
    f.write(name + '\n')


def _saved_config(wd: Workdir) -> ml_collections.ConfigDict:
  try:
    with open(wd.path('config.json')) as f:
      return ml_collections.ConfigDict(json.load(f))
  except (OSError, ValueError) as e:
    raise UserError(f'{wd.path("config.json")} is missing or damaged ({type(e).__name__}); '
                    'run the same dd3d_jax.main command again to rewrite it.') from None


def resample(wd: Workdir, config, name: str, d: int, num_points: int, dataset, task
             ) -> tuple[methods_lib.SmallSet, dict]:
  """Method `name`'s set `d` exported again from its last checkpoint at `num_points`
  points, as the job exports it (the same key: at the saved resolution, the same set),
  with the set's parameters."""
  settings = config_lib.method_settings(config, name)
  context = methods_lib.Context(dataset, tasks_lib.build_network(config, task, distilling=True),
                                config.distill.cpc, _no_features, task=task)
  method = methods_lib.build(settings.type, settings, context, lambda arch: (
      tasks_lib.build_network(config, task, arch, distilling=True)))
  one_resolution = UserError(f'{name} ({settings.type}) stores its set at one resolution; '
                             'export it without --points (a generator, such as dd3d, emits '
                             'any).')
  if method.num_steps == 0:
    raise one_resolution
  directory = wd.path('checkpoints', f'{name}_{d}')
  step, raw = Checkpointer(directory, every=1).restore_latest(None) if os.path.isdir(
      directory) else (0, None)
  if not step:
    raise UserError(f'{directory} holds no intact checkpoint of {name}; run the same '
                    'dd3d_jax.main command again to distil it.')
  state = distill.DistillState(**raw) if isinstance(raw, dict) else raw
  small = method.export(state, keys.stream(config.seed, 'export', d), num_points)
  if small.points.shape[1] != num_points:
    raise one_resolution
  return small, state.gen_params


def _no_features(epochs):
  raise UserError('exporting needs no feature network; this is a bug.')


def metric_scale(config, dataset) -> float:
  """The data's units per unit of the sets: the one factor of `data.scale='dataset'`."""
  if config.data.scale != 'dataset':
    raise UserError(f'--metric: this job scaled each cloud into the unit sphere by its own '
                    f'factor (data.scale={config.data.scale!r}), so its sets have no metric '
                    f'scale; distil with --config.data.scale=dataset to keep one.')
  return dataset.scale


def export(workdir: str, methods: Sequence[str] = (), distills: Sequence[int] = (),
           fmt: str = 'ply', num_points: int | None = None, out: str | None = None,
           metric: bool = False) -> list[str]:
  """Writes the chosen sets of `workdir` in `fmt`; returns the folders written.

  Args:
    methods: names of `plan.json` (default: every method with a set file).
    distills: distillation indices (default: every one with a set file).
    num_points: resample (generators only); None: the set as saved.
    out: the output folder (default `workdir/export`).
    metric: multiply the clouds by the data's scale (`metric_scale`), back to its units.
  Raises:
    UserError: an unknown workdir, method, index or format, a missing set, a set that
      cannot be resampled.
  """
  if fmt not in FORMATS:
    raise UserError(f'--format {fmt!r} is unknown; use one of {", ".join(FORMATS)}.')
  if num_points is not None and num_points < 1:
    raise UserError(f'--points {num_points} must be a positive number of points.')
  wd, plan = Workdir(workdir), tables.read_plan(workdir)
  task_module = tasks_lib.module(plan['task'])
  listed = [m for m in plan['methods']
            if any(f.startswith(f'{m}_') for f in os.listdir(wd.path('sets')))] if os.path.isdir(
                wd.path('sets')) else []
  for m in methods:
    if m not in plan['methods']:
      raise UserError(f'--method {m!r} is not a method of {workdir}; use one of '
                      f'{", ".join(plan["methods"])}.')
  chosen = list(methods) or listed
  if not chosen:
    raise UserError(f'{workdir} holds no distilled set yet (sets/ is empty); run the '
                    'dd3d_jax.main command first.')
  config = dataset = task = None
  out = out or wd.path('export')
  written = []
  for m in chosen:
    found = sorted(int(f[len(m) + 1:-4]) for f in os.listdir(wd.path('sets'))
                   if f.startswith(f'{m}_') and f.endswith('.npz') and f[len(m) + 1:-4].isdigit())
    for d in distills or found:
      set_file = wd.set_file(m, d)
      if not os.path.exists(set_file):
        raise UserError(f'{set_file} does not exist; pick --distill from '
                        f'{", ".join(map(str, found)) or "(none)"} or run the job again.')
      points, labels, targets = records.load_set(set_file, task_module.SET_KEY)
      with np.load(set_file) as f:
        class_names = [str(c) for c in f['class_names']]
      if (num_points is not None or fmt == 'h5' or metric) and config is None:
        config = _saved_config(wd)
        dataset = data_lib.load(config.data)
        task = tasks_lib.make(config.task, dataset)
      params = None
      if num_points is not None and num_points != points.shape[1]:
        small, params = resample(wd, config, m, d, num_points, dataset, task)
        points, labels, targets = small
      factor = metric_scale(config, dataset) if metric else 1.0
      points = points * np.float32(factor)
      folder = os.path.join(out, f'{m}_{d}')
      os.makedirs(folder, exist_ok=True)
      parts = targets if task_module.SET_KEY == 'parts' else None
      _write(folder, fmt, points, labels, targets, parts, class_names, task_module.SET_KEY,
             dataset, task, factor)
      if params is not None:
        flat = {'/'.join(str(getattr(k, 'key', k)) for k in path): np.asarray(leaf)
                for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]}
        records.write_npz(os.path.join(folder, 'generator.npz'), **flat)
      written.append(folder)
  return written


def _write(folder, fmt, points, labels, targets, parts, class_names, set_key, dataset,
           task, factor) -> None:
  if fmt == 'npz':
    records.save_set(os.path.join(folder, 'set.npz'), points, labels, class_names, set_key,
                     targets)
  elif fmt == 'h5':
    write_h5_split(folder, 'train', points, labels, parts)
    test = dataset.test
    write_h5_split(folder, 'test', test.points * np.float32(factor), test.labels,
                   task.targets(test) if parts is not None else None)
    with open(os.path.join(folder, 'shape_names.txt'), 'w') as f:
      f.write('\n'.join(class_names) + '\n')
  else:
    counts = {}
    for i, (cloud, label) in enumerate(zip(points, labels)):
      name = class_names[label]
      counts[name] = counts.get(name, -1) + 1
      path = os.path.join(folder, f'{name}_{counts[name]}.{fmt}')
      (write_ply if fmt == 'ply' else write_xyz)(path, cloud, None if parts is None else parts[i])


def main(argv: Sequence[str]) -> int:
  parser = cli.ArgumentParser(prog='python -m dd3d_jax.export',
                              description='Write the distilled sets of a workdir as PLY, xyz, '
                                          'ModelNet40-layout h5 or npz.')
  parser.add_argument('workdir', metavar='WORKDIR')
  parser.add_argument('--method', action='append', default=[],
                      help='a method of the workdir (repeatable; default: every one)')
  parser.add_argument('--distill', action='append', type=int, default=[],
                      help='a distillation index (repeatable; default: every one)')
  parser.add_argument('--format', choices=FORMATS, default='ply')
  parser.add_argument('--points', type=int, default=None,
                      help='resample a generator set (dd3d) at this many points')
  parser.add_argument('--out', default=None, help='output folder (default WORKDIR/export)')
  parser.add_argument('--metric', action='store_true',
                      help="back to the data's units (jobs run with data.scale=dataset)")
  try:
    args = parser.parse_args(argv)
    for folder in export(args.workdir, args.method, args.distill, args.format, args.points,
                         args.out, args.metric):
      print(folder)
  except UserError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
