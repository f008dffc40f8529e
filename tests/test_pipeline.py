"""The main job end to end on a tiny procedural dataset: outputs, resume, refusals."""

import json
import os
import subprocess
import sys

import chex
import jax
import numpy as np
import pytest

from dd3d_jax import config as config_lib
from dd3d_jax import data as data_lib
from dd3d_jax import distill, pipeline
from dd3d_jax.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(**distill_overrides):
  c = config_lib.base_config()
  c.data.format = 'shapes'
  c.data.num_points = 64
  c.data.shapes.num_train_per_class = 5
  c.data.shapes.num_test_per_class = 2
  c.distill.update({**dict(cpc=1, iterations=4, outer_loop=2, inner_loop=1, batch_real=4,
                           train_points=32, hidden=32, checkpoint_every=1, log_every=1),
                      **distill_overrides})
  c.eval.update(dict(num_evals=1, epochs=2, test_every=1))
  return c


@pytest.fixture(scope='module')
def finished_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('run'))
  return workdir, pipeline.run(tiny_config(), workdir)


def test_outputs(finished_run):
  workdir, results = finished_run
  for method in ('dd3d', 'random'):
    r = results[method]
    assert set(r) >= {'final_oa_mean', 'final_oa_std', 'best_oa_mean', 'runs'}
    assert 0 <= r['final_oa_mean'] <= 100 and r['best_oa_mean'] >= r['final_oa_mean']
  with open(os.path.join(workdir, 'results.json')) as f:
    assert json.load(f)['dd3d'] == results['dd3d']
  with np.load(os.path.join(workdir, 'distilled.npz'), allow_pickle=False) as f:
    k = len(f['class_names'])
    assert f['points'].shape == (k, 64, 3) and f['points'].dtype == np.float32
    np.testing.assert_array_equal(f['labels'], np.arange(k))
  renders = os.listdir(os.path.join(workdir, 'renders'))
  assert 'overview.png' in renders and len(renders) == k + 1
  for png in ('loss.png', os.path.join('renders', 'overview.png')):
    with open(os.path.join(workdir, png), 'rb') as f:
      assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    metrics = [json.loads(line) for line in f]
  assert [m['iteration'] for m in metrics if 'loss' in m] == [1, 2, 3, 4]
  assert {m['method'] for m in metrics if 'test_oa' in m} == {'dd3d', 'random'}


def test_finished_run_is_reported_not_redone(finished_run):
  workdir, results = finished_run
  ckpt = os.path.join(workdir, 'checkpoints', 'distill_0')
  before = {p: os.path.getmtime(os.path.join(ckpt, p)) for p in os.listdir(ckpt)}
  assert pipeline.run(tiny_config(), workdir) == json.loads(json.dumps(results))
  assert {p: os.path.getmtime(os.path.join(ckpt, p)) for p in os.listdir(ckpt)} == before


def test_workdir_of_another_config_is_refused(finished_run):
  workdir, _ = finished_run
  with pytest.raises(ConfigError, match=r'distill.cpc: 1 -> 2.*use a new --workdir'):
    pipeline.run(tiny_config(cpc=2), workdir)


def test_baselines_alone_distil_nothing(tmp_path):
  config = tiny_config()
  config.eval.methods = 'random, full'
  results = pipeline.run(config, str(tmp_path))
  assert {'random', 'full'} <= set(results) and 'dd3d' not in results
  assert len(results['full']['runs']) == 1
  assert not (tmp_path / 'checkpoints').exists() and not (tmp_path / 'distilled.npz').exists()


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, monkeypatch):
  config = tiny_config()
  dataset = data_lib.load(config.data)
  k = dataset.num_classes
  distiller = pipeline.build_distiller(config, k)
  real = distill.make_real_data(dataset.train.points, dataset.train.labels, k, min_width=4)
  key = jax.random.key(0)
  whole = pipeline.run_distillation(distiller, real, key, config, str(tmp_path / 'a'), 0)

  make = distill.make_iteration_fn

  def preempted_after_two(d):
    step, calls = make(d), []

    def wrapped(state, real):
      if len(calls) == 2:
        raise KeyboardInterrupt('preempted')
      calls.append(1)
      return step(state, real)
    return wrapped

  monkeypatch.setattr(distill, 'make_iteration_fn', preempted_after_two)
  with pytest.raises(KeyboardInterrupt):
    pipeline.run_distillation(distiller, real, key, config, str(tmp_path / 'b'), 0)
  monkeypatch.setattr(distill, 'make_iteration_fn', make)
  resumed = pipeline.run_distillation(distiller, real, key, config, str(tmp_path / 'b'), 0)
  assert int(resumed.iteration) == int(whole.iteration) == 4
  chex.assert_trees_all_equal(resumed.gen_params, whole.gen_params)
  chex.assert_trees_all_equal(resumed.opt_state, whole.opt_state)
  with open(tmp_path / 'b' / 'metrics.jsonl') as f:
    assert [json.loads(line)['iteration'] for line in f] == [1, 2, 3, 4]


def run_main(*args):
  return subprocess.run([sys.executable, '-m', 'dd3d_jax.main', *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=120)


def test_main_missing_data_path_is_one_line(tmp_path):
  out = run_main('--config=configs/shapes.py', '--config.data.format=npz',
                 '--config.data.path=/no/such/folder', f'--workdir={tmp_path / "w"}')
  assert out.returncode == 2
  assert out.stderr.strip().count('\n') == 0, out.stderr
  assert out.stderr.startswith('error: /no/such/folder: no such file or folder')
  assert not (tmp_path / 'w').exists()


@pytest.mark.parametrize('args, message', [
    (['--config=configs/shapes.py', '--config.distill.metric=l1'],
     "error: distill.metric 'l1' is unknown; use one of ('ours', 'mse', 'cos')."),
    (['--config=configs/shapes.py', '--config.distill.cpcc=3'],
     'error: unknown config field \'cpcc\' Did you mean "cpc" instead of "cpcc"?'),
    (['--config=configs/shapes.py', '--config.eval.methods=dd3d,gm'],
     "error: eval.methods 'dd3d,gm' must list some of ('dd3d', 'random', 'full'), "
     "comma-separated."),
    (['--config=configs/modelnet40.py:cpc=3'],
     'error: configs/modelnet40.py has reference loops for cpc in [1, 10, 50], not 3; pick one '
     'of those or set distill.outer_loop/inner_loop yourself.'),
    (['--config=configs/nope.py'],
     "error: cannot load the config file ([Errno 2] No such file or directory: "
     "'configs/nope.py'); pass --config=configs/<name>.py."),
])
def test_main_bad_config_is_one_line(tmp_path, args, message):
  out = run_main(*args, f'--workdir={tmp_path / "w"}')
  assert out.returncode == 2 and out.stderr.strip() == message
