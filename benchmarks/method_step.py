"""Times one compiled update of any configured method, and where its time goes.

    python benchmarks/method_step.py --config=configs/modelnet10.py:cpc=1,beyond \
        --data=data/modelnet10_hdf5_1024 --method=sadm
    python benchmarks/method_step.py --config=configs/modelnet10.py:cpc=1,beyond \
        --data=random:40 --method=sadm      # 40 classes of random clouds, ModelNet40's size

`--data` is a dataset folder (ModelNet10 in the official h5 layout here; how to cut it
from the public ModelNet40 download: docs/data.md#modelnet10-for-the-cpu-budget-runs) or `random:K`.

Builds the method as the pipeline does (by its name in `config.methods`, on the real
training split, with the distillation network, behind its rotator when rotated), compiles its `step`, runs it once,
times `--steps` more, then traces two under jax.profiler and prints the XLA operations
that took longest, with the JAX source that produced them (`profile.py`'s tables).
`--data=random:K` stands for K classes of random clouds (1,024 points, ModelNet40's 9,843
training clouds spread over them, ModelNet40's 64-889 clouds per class when K = 40), to
time a step at any class count without the data set. `--set FIELD=VALUE` changes a
config field first (`--set distill.train_points=1024`). Methods whose step needs more than
the real data (TM's expert trajectories, the
feature network of herding and k-center) are not handled here.
"""

from __future__ import annotations

import argparse
import collections
import functools
import importlib.util
import tempfile
import time

import jax
import numpy as np

from dd3d_jax import config as config_lib
from dd3d_jax import data as data_lib
from dd3d_jax import distill, methods, tasks
from dd3d_jax.methods import Context

from profile import hlo_index, trace_events


def load_config(spec: str):
  path, _, arg = spec.partition(':')
  module_spec = importlib.util.spec_from_file_location('config_module', path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg or None)


def random_dataset(num_classes: int, num_points: int = 1024) -> data_lib.PointCloudDataset:
  """K classes of random clouds: 9,843 training clouds, 64 to 889 per class (ModelNet40's
  smallest and largest), 2 test clouds per class."""
  rng = np.random.default_rng(0)
  counts = np.linspace(64, 889, num_classes) if num_classes > 1 else np.ones(1)
  counts = np.maximum(1, np.round(counts * 9843 / counts.sum())).astype(int)
  labels = np.repeat(np.arange(num_classes), counts)
  test = np.repeat(np.arange(num_classes), 2)

  def clouds(n):
    return rng.uniform(-1, 1, (n, num_points, 3)).astype(np.float32)

  return data_lib.PointCloudDataset(
      f'random{num_classes}', tuple(f'c{i}' for i in range(num_classes)),
      {'train': data_lib.Split(clouds(len(labels)), labels.astype(np.int32)),
       'test': data_lib.Split(clouds(len(test)), test.astype(np.int32))})


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--config', required=True, help='FILE[:VARIANT], as dd3d_jax.main takes it')
  p.add_argument('--data', required=True, help='config.data.path, or random:K (K classes)')
  p.add_argument('--method', required=True, help='a name of config.methods')
  p.add_argument('--set', action='append', default=[], metavar='FIELD=VALUE',
                 help='a config field to change, e.g. distill.train_points=1024 (repeatable)')
  p.add_argument('--steps', type=int, default=4,
                 help='timed steps (even: a method matched under two networks takes turns)')
  p.add_argument('--top', type=int, default=10)
  args = p.parse_args()

  c = load_config(args.config)
  for change in args.set:
    field, _, value = change.partition('=')
    *parents, leaf = field.split('.')
    node = functools.reduce(lambda d, name: d[name], parents, c)
    old = node[leaf]
    node[leaf] = (value.lower() == 'true' if isinstance(old, bool)
                  else value if old is None else type(old)(value))
  if args.data.startswith('random:'):
    dataset = random_dataset(int(args.data.split(':')[1]), c.data.num_points)
  else:
    c.data.path = args.data
    dataset = data_lib.load(c.data)
  k = dataset.num_classes
  task = tasks.make(c.task, dataset)
  context = Context(dataset, tasks.build_network(c, task, distilling=True), c.distill.cpc,
                    None, task=task)
  real = distill.make_real_data(dataset.train.points, dataset.train.labels, k,
                                min_width=c.distill.batch_real,
                                targets=task.targets(dataset.train))
  settings = config_lib.method_settings(c, args.method)
  method = methods.build(settings.type, settings, context,
                         lambda arch: tasks.build_network(c, task, arch, distilling=True))
  state = method.init(jax.random.key(0), real)
  inputs = methods.step_inputs(method, real)
  t = time.perf_counter()
  step = jax.jit(method.step).lower(state, inputs).compile()
  compile_s = time.perf_counter() - t
  state = jax.block_until_ready(step(state, inputs)[0])
  t = time.perf_counter()
  for _ in range(args.steps):
    state = jax.block_until_ready(step(state, inputs)[0])
  step_s = (time.perf_counter() - t) / args.steps
  print(f'{args.method} ({settings.type}), {k} classes, CPC {c.distill.cpc}: '
        f'{step_s:.3f} s per step (compile {compile_s:.1f} s)')

  index = hlo_index(step.as_text())
  with tempfile.TemporaryDirectory() as trace_dir:
    with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
      for _ in range(2):
        state = jax.block_until_ready(step(state, inputs)[0])
    per_op = collections.Counter()
    for e in trace_events(trace_dir):
      if e['name'] in index:
        per_op[e['name']] += e.get('dur', 0.0) / 1e6 / 2
  total = sum(per_op.values())
  print(f'{total:.3f} s of XLA operations per step; the longest:')
  for name, sec in per_op.most_common(args.top):
    kind, op_name = index[name]
    print(f'{sec:7.3f} s {sec / total:6.1%}  {kind:<10} {op_name[-100:]}')


if __name__ == '__main__':
  main()
