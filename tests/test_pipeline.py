"""The main job end to end on a tiny procedural dataset: outputs, resume at any point, refusals."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from dd3d_jax import config as config_lib
from dd3d_jax import evaluate, pipeline, records, registry, runner, tables
from dd3d_jax.errors import ConfigError, UserError
from tests import events
from tests.events import f32
from tests.tiny import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALL = 'random,herding,kcenter,gm,dm,dd3d,full'


def read(path):
  with open(path) as f:
    return json.load(f)


def finals(results):
  return {m: [r['final_oa'] for r in v['runs']] for m, v in results.items() if m != 'meta'}


@pytest.fixture(scope='module')
def finished_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('run'))
  return workdir, pipeline.run(tiny_config(ALL, render=True), workdir)


def test_outputs_of_every_method(finished_run):
  workdir, results = finished_run
  assert set(results) == set(ALL.split(',')) | {'meta'}
  for method in ALL.split(','):
    r = results[method]
    assert 0 <= r['final_oa_mean'] <= 100 and r['best_oa_mean'] >= r['final_oa_mean']
    assert r['type'] == method and len(r['runs']) == 1
    assert read(os.path.join(workdir, 'runs', method, 'd0_pointnet_s0.json')) == r['runs'][0]
  assert read(os.path.join(workdir, 'results.json'))['dd3d'] == results['dd3d']
  k = results['meta']['num_classes']
  assert results['random']['storage'] == k * 64 * 3  # one cloud per class at 64 points
  assert results['dd3d']['runs'][0]['storage'] == results['dd3d']['storage'] != k * 64 * 3
  assert records.load_storage(os.path.join(workdir, 'sets', 'gm_0.npz')) == k * 32 * 3
  for method in ALL.split(','):  # paired with the random coreset's run of the same index
    gain = results[method]['runs'][0]['final_oa'] - results['random']['runs'][0]['final_oa']
    assert results[method]['final_oa_gain_mean'] == pytest.approx(gain)
  k = results['meta']['num_classes']
  for method, points in [('dd3d', 64), ('gm', 32), ('dm', 32), ('random', 64)]:
    with np.load(os.path.join(workdir, 'sets', f'{method}_0.npz'), allow_pickle=False) as f:
      assert f['points'].shape == (k, points, 3) and f['points'].dtype == np.float32
      np.testing.assert_array_equal(f['labels'], np.arange(k))
      assert len(f['class_names']) == k
  assert not os.path.exists(os.path.join(workdir, 'sets', 'full_0.npz'))
  renders = os.listdir(os.path.join(workdir, 'renders', 'dd3d'))
  assert 'overview.png' in renders and len(renders) == k + 1
  with open(os.path.join(workdir, 'loss.png'), 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    metrics = [json.loads(line) for line in f]
  for method in ('dd3d', 'gm'):
    assert [m['iteration'] for m in metrics if m.get('method') == method and 'loss' in m] == [1, 2, 3]
  assert {m['method'] for m in metrics if 'test_oa' in m} == set(ALL.split(','))
  assert set(results['meta']['seconds_per_step']) == set(ALL.split(','))
  assert results['meta']['seconds_per_step']['random'] is None
  assert os.path.exists(os.path.join(workdir, 'features', 'e1.npz'))
  assert 0 <= results['meta']['feature_networks']['e1']['final_oa'] <= 100
  plan = read(os.path.join(workdir, 'plan.json'))
  assert plan['runs_per_method'] == {m: 1 for m in ALL.split(',')}


def test_tables_reads_the_workdir(finished_run, capsys):
  workdir, results = finished_run
  assert tables.main([workdir]) == 0
  out = capsys.readouterr().out
  row = [line for line in out.splitlines() if line.startswith('| shapes')]
  assert len(row) == 1 and f'{results["gm"]["final_oa_mean"]:.1f}' in row[0]
  header = [line for line in out.splitlines() if line.startswith('| dataset')][0]
  assert [h.strip() for h in header.split('|')[4:-1]] == ALL.split(',')


def test_finished_run_is_reported_not_redone(finished_run, monkeypatch):
  workdir, results = finished_run
  ckpt = os.path.join(workdir, 'checkpoints', 'dd3d_0')
  before = {p: os.path.getmtime(os.path.join(ckpt, p)) for p in os.listdir(ckpt)}
  monkeypatch.setattr(pipeline.data_lib, 'load', None)  # nothing to restore: no data needed
  assert pipeline.run(tiny_config(ALL), workdir) == json.loads(json.dumps(results))
  assert {p: os.path.getmtime(os.path.join(ckpt, p)) for p in os.listdir(ckpt)} == before


def test_workdir_of_other_result_settings_is_refused(finished_run):
  workdir, _ = finished_run
  with pytest.raises(ConfigError, match=r'distill.cpc: 1 -> 2.*use a new --workdir'):
    pipeline.run(tiny_config(ALL, cpc=2), workdir)
  c = tiny_config(ALL)
  c.methods.gm.lr = 0.5
  with pytest.raises(ConfigError, match=r'methods.gm.lr: None -> 0.5'):
    pipeline.run(c, workdir)
  c = tiny_config(ALL)
  c.matmul_precision = 'highest'
  with pytest.raises(ConfigError, match=r"matmul_precision: 'default' -> 'highest'"):
    pipeline.run(c, workdir)


def test_settings_of_a_method_that_never_ran_here_do_not_block_a_resume(finished_run):
  workdir, _ = finished_run
  c = tiny_config(ALL)
  c.methods.tm.expert_lr = 0.5  # TM is not among ALL: no result here depends on it
  pipeline.run(c, workdir)


def test_moving_the_data_or_logging_less_does_not_block_a_resume(finished_run):
  workdir, results = finished_run
  c = tiny_config(ALL)
  c.data.path = '/moved/elsewhere'  # a finished run reads no data; the check ignores it too
  c.distill.log_every, c.distill.checkpoint_every, c.eval.test_batch = 7, 5, 16
  c.tensorboard = True
  assert finals(pipeline.run(c, workdir)) == finals(results)
  assert not os.path.exists(os.path.join(workdir, 'tensorboard'))  # nothing new to show


def test_selections_alone_distil_nothing(tmp_path):
  results = pipeline.run(tiny_config('random,full'), str(tmp_path))
  assert {'random', 'full'} <= set(results) and 'dd3d' not in results
  assert not (tmp_path / 'checkpoints').exists()
  assert results['full']['runs'][0]['set_size'] == 5 * results['meta']['num_classes']
  assert not (tmp_path / 'renders').exists()  # config.render = False
  run_file = read(tmp_path / 'runs' / 'random' / 'd0_pointnet_s0.json')
  # turned on later: the pictures are drawn, nothing else is redone
  assert finals(pipeline.run(tiny_config('random,full', render=True), str(tmp_path))) == \
      finals(results)
  assert sorted(os.listdir(tmp_path / 'renders')) == ['random']
  assert len(os.listdir(tmp_path / 'renders' / 'random')) == results['meta']['num_classes'] + 1
  assert read(tmp_path / 'runs' / 'random' / 'd0_pointnet_s0.json') == run_file


def test_more_runs_and_more_methods_reuse_what_is_written(tmp_path):
  first = pipeline.run(tiny_config('random,dm'), str(tmp_path))
  c = tiny_config('random,dm,gm')
  c.eval.num_evals = 2
  second = pipeline.run(c, str(tmp_path))
  assert [r['final_oa'] for r in second['dm']['runs'][:1]] == finals(first)['dm']
  assert len(second['dm']['runs']) == len(second['gm']['runs']) == 2
  pipeline.run(tiny_config('full'), str(tmp_path))  # another method alone: all stay listed
  plan = read(tmp_path / 'plan.json')
  assert plan['methods'] == ['random', 'dm', 'gm', 'full']
  assert plan['runs_per_method'] == {'random': 2, 'dm': 2, 'gm': 2, 'full': 1}


def crash_on_call(monkeypatch, owner, name, n):
  """Makes the n-th call (0-based) of owner.name raise KeyboardInterrupt ('preempted')."""
  original, calls = getattr(owner, name), []

  def wrapped(*args, **kwargs):
    calls.append(1)
    if len(calls) == n + 1:
      raise KeyboardInterrupt('preempted')
    return original(*args, **kwargs)

  monkeypatch.setattr(owner, name, wrapped)


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
  config = tiny_config('gm,herding,random')
  config.eval.num_evals = 2
  return pipeline.run(config, str(tmp_path_factory.mktemp('whole')))


@pytest.mark.parametrize('where', [  # CI: two points (plus a SIGKILL in test_main); all: slow
    ('runner', 'fit', 0),        # before GM's first step
    ('evaluate', 'run', 1),      # in GM's second evaluation run
    pytest.param(('evaluate', 'train', 2), marks=pytest.mark.slow),  # herding's features
    pytest.param(('evaluate', 'run', 5), marks=pytest.mark.slow),    # the last evaluation
])
def test_interruption_at_any_point_resumes_to_the_same_results(where, uninterrupted, tmp_path,
                                                              monkeypatch):
  module, name, n = where
  owner = {'runner': runner, 'evaluate': evaluate.Evaluator}[module]
  config = tiny_config('gm,herding,random')
  config.eval.num_evals = 2
  config.tensorboard = True
  with monkeypatch.context() as m:
    crash_on_call(m, owner, name, n)
    with pytest.raises(KeyboardInterrupt):
      pipeline.run(config, str(tmp_path))
  resumed = pipeline.run(config, str(tmp_path))
  assert finals(resumed) == finals(uninterrupted)
  lines = [json.loads(x) for x in open(tmp_path / 'metrics.jsonl')]
  tests = [(m['method'], m['distill'], m['eval'], m['epoch']) for m in lines if 'test_oa' in m]
  assert len(tests) == len(set(tests))  # an interrupted evaluation's lines were dropped
  steps = [(m['distill'], m['iteration']) for m in lines if m.get('method') == 'gm' and 'loss' in m]
  assert steps == [(0, 1), (0, 2), (0, 3)]
  assert_tensorboard_shows(tmp_path, lines, resumed['meta']['num_classes'])
  written = {p: os.path.getmtime(p) for p in (tmp_path / 'tensorboard').rglob('*')}
  pipeline.run(config, str(tmp_path))  # finished: nothing written again
  assert {p: os.path.getmtime(p) for p in (tmp_path / 'tensorboard').rglob('*')} == written


def assert_tensorboard_shows(workdir, lines, num_classes):
  """TensorBoard shows every line of metrics.jsonl once, at its step, and one point cloud
  per class of each set saved."""
  runs = {}  # run folder -> {tag: [(step, value)]}
  for m in lines:
    if 'loss' in m:
      run, step = f'distill/{m["method"]}_{m["distill"]}', m['iteration']
      tags = {'loss': 'loss', 'seconds': 'seconds'}
    else:
      run = f'eval/{m["method"]}/d{m["distill"]}_{m["backbone"]}_s{m["eval"]}'
      step, tags = m['epoch'], {'test/oa': 'test_oa', 'test/macc': 'test_macc'}
    for tag, key in tags.items():
      runs.setdefault(run, {}).setdefault(tag, []).append((step, f32(m[key])))
  folders = {os.path.relpath(r, workdir / 'tensorboard') for r, _, files in
             os.walk(workdir / 'tensorboard') if files}
  assert folders == {*runs, 'sets/gm_0', 'sets/herding_0', 'sets/random_0'}
  for run, shown in runs.items():
    assert events.scalars(str(workdir / 'tensorboard' / run)) == shown, run
  for method in ('gm', 'herding', 'random'):
    assert len(events.clouds(str(workdir / 'tensorboard' / 'sets' / f'{method}_0'))) == num_classes


def test_reevaluate_redoes_every_run(finished_run, tmp_path):
  c = tiny_config('random')
  pipeline.run(c, str(tmp_path))
  path = tmp_path / 'runs' / 'random' / 'd0_pointnet_s0.json'
  before = os.path.getmtime(path)
  c.eval.reevaluate = True
  pipeline.run(c, str(tmp_path))
  assert os.path.getmtime(path) > before


def test_damaged_run_file_is_one_line(tmp_path):
  pipeline.run(tiny_config('random'), str(tmp_path))
  (tmp_path / 'runs' / 'random' / 'd0_pointnet_s0.json').write_text('{"final_oa": 5')
  (tmp_path / 'results.json').unlink()
  with pytest.raises(UserError, match=r'd0_pointnet_s0.json is damaged .*delete it'):
    pipeline.run(tiny_config('random'), str(tmp_path))


@pytest.mark.slow  # the cache itself: tests/methods/test_tm.py
def test_tm_experts_are_trained_once_and_shared_through_experts_dir(tmp_path, caplog):
  shared = str(tmp_path / 'experts')
  config = tiny_config('tm')
  config.methods.tm.experts_dir = shared
  with caplog.at_level('INFO', logger='dd3d_jax'):
    first = pipeline.run(config, str(tmp_path / 'a'))
  assert caplog.text.count('tm: expert') == 2 and len(os.listdir(shared)) == 2
  assert not os.path.exists(tmp_path / 'a' / 'experts')
  caplog.clear()
  config.eval.num_evals = 2  # a second cell of the same data reads the experts
  with caplog.at_level('INFO', logger='dd3d_jax'):
    second = pipeline.run(config, str(tmp_path / 'b'))
  assert 'tm: expert' not in caplog.text
  assert finals(second)['tm'][0] == finals(first)['tm'][0]


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
     "error: distill.metric 'l1' is unknown; use one of cos, mse, ours."),
    (['--config=configs/shapes.py', '--config.distill.cpcc=3'],
     'error: unknown config field \'cpcc\' Did you mean "cpc" instead of "cpcc"?'),
    (['--config=configs/shapes.py', '--config.eval.methods=dd3d,gn'],
     "error: eval.methods names 'gn', which config.methods does not define; use some of "
     "dd3d, dm, full, gm, herding, kcenter, kmedoids, random, sadm, tddp, tm (or add methods.gn)."),
    (['--config=configs/shapes.py', '--config.model.arch=pointnet9'],
     "error: model.arch 'pointnet9' is unknown; use one of "
     f"{', '.join(registry.names('networks'))}."),
    (['--config=configs/modelnet40.py:cpc=3'],
     'error: configs/modelnet40.py has reference loops for cpc in [1, 10, 50], not 3; pick one '
     'of those or set distill.outer_loop/inner_loop yourself.'),
    (['--config=configs/nope.py'],
     "error: cannot load the config file ([Errno 2] No such file or directory: "
     "'configs/nope.py'); pass --config=configs/<name>.py."),
])
def test_main_bad_config_is_one_line_and_writes_nothing(tmp_path, args, message):
  out = run_main(*args, f'--workdir={tmp_path / "w"}')
  assert out.returncode == 2 and out.stderr.strip() == message
  assert not (tmp_path / 'w').exists()


@pytest.mark.slow  # each backbone's own suite runs in tests/models
def test_every_set_is_evaluated_on_every_backbone_and_tables_show_them(tmp_path, capsys):
  workdir = str(tmp_path / 'w')
  pipeline.run(tiny_config('random,dd3d'), workdir)
  first = read(os.path.join(workdir, 'runs', 'random', 'd0_pointnet_s0.json'))
  config = tiny_config('random,dd3d')
  config.eval.backbones = 'pointnet,dgcnn'  # a backbone added to a finished workdir
  results = pipeline.run(config, workdir)
  assert read(os.path.join(workdir, 'runs', 'random', 'd0_pointnet_s0.json')) == first
  for method in ('random', 'dd3d'):
    run = read(os.path.join(workdir, 'runs', method, 'd0_dgcnn_s0.json'))
    assert run['backbone'] == 'dgcnn' and run['set_size'] == 12
  assert set(results['by_backbone']) == {'pointnet', 'dgcnn'}
  assert results['meta']['distill_network'] == 'pointnet'
  assert tables.main([workdir, '--table', '3']) == 0
  header = capsys.readouterr().out.splitlines()[2]
  assert [c.strip() for c in header.split('|')[5:7]] == ['pointnet', 'dgcnn']


def tiny_segmentation(methods='random,dd3d,full'):
  c = config_lib.use_segmentation(tiny_config(methods, render=True), epochs=2)  # parts coloured
  c.distill.batch_syn = 8
  c.eval.methods = methods
  return c


def test_part_segmentation_end_to_end(tmp_path, capsys):
  workdir = str(tmp_path / 'w')
  results = pipeline.run(tiny_segmentation(), workdir)
  assert results['meta']['task'] == 'segmentation'
  for name in ('random', 'dd3d', 'full'):
    run = read(os.path.join(workdir, 'runs', name, 'd0_pointnet_s0.json'))
    assert run['task'] == 'segmentation'
    for key in ('oa', 'instance_miou', 'class_miou'):
      assert 0 <= run[f'final_{key}'] <= 100 and f'final_{key}_mean' in results[name]
  with np.load(os.path.join(workdir, 'sets', 'dd3d_0.npz')) as f:
    assert f['parts'].shape == f['points'].shape[:2]  # the generator's own labels, exported
  assert os.path.exists(os.path.join(workdir, 'renders', 'dd3d', 'overview.png'))
  assert tables.main([workdir, '--table', '2']) == 0
  assert 'cls. mIoU' in capsys.readouterr().out
  assert pipeline.run(tiny_segmentation(), workdir) == json.loads(json.dumps(results))
  # the gain over random is taken of class mIoU, the score the part tables rank by
  assert results['random']['final_class_miou_gain_mean'] == 0.0
  assert 'final_oa_gain_mean' not in results['dd3d']
  assert 'final_class_miou_gain_mean' in results['dd3d']
  assert 'cls. mIoU - random' in tables.render_scores(tables.collect([workdir]))


def test_segmentation_of_data_without_parts_is_one_line_and_writes_nothing(tmp_path):
  data = tmp_path / 'clouds.npz'
  rng = np.random.default_rng(0)
  np.savez(data, train_points=rng.normal(size=(4, 64, 3)), train_labels=np.array([0, 0, 1, 1]),
           test_points=rng.normal(size=(2, 64, 3)), test_labels=np.array([0, 1]),
           class_names=np.array(['a', 'b']))
  c = tiny_segmentation('random')
  c.data.update(format='npz', path=str(data))
  with pytest.raises(UserError, match='has no part labels in both splits; part segmentation '
                                      'needs them'):
    pipeline.run(c, str(tmp_path / 'w'))
  assert not (tmp_path / 'w').exists()
