"""The command line under user mistakes and faults: one line on stderr, status 2, no
traceback, and the workdir's earlier contents unchanged; automatic recovery where the
damage is ours to repair; a SIGKILL at a random step resumes bit-identically, a Ctrl-C
is one line (status 130) and resumes alike; a second run on a workdir in use refuses."""

import errno
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from dd3d_jax import config as config_lib
from dd3d_jax import evaluate, lock, main, pipeline, records, registry, runner, tables
from dd3d_jax import workdir as workdir_lib
from dd3d_jax.checkpoint import Checkpointer
from tests.tiny import tiny_config as _tiny


def tiny_config(methods='dd3d,random'):
  """The tiny job of every test here, with pictures (a lost one is drawn again): the
  finished run's and test_pipeline's, so that their compiled programs are shared."""
  return _tiny(methods, render=True)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def snapshot(root) -> dict:
  """{relative path: sha256} of every file under `root`."""
  out = {}
  for r, _, files in os.walk(root):
    for name in files:
      path = os.path.join(r, name)
      with open(path, 'rb') as f:
        out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
  return out


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
  """A finished tiny run of DD3D and a random coreset: (workdir, results)."""
  workdir = str(tmp_path_factory.mktemp('finished'))
  return workdir, pipeline.run(tiny_config(), workdir)


@pytest.fixture
def copy(finished, tmp_path):
  """A private copy of the finished workdir."""
  target = str(tmp_path / 'w')
  shutil.copytree(finished[0], target)
  return target


def refused(config, workdir, capsys, argv=('dd3d_jax.main',)) -> str:
  """Runs the job as `main` does; asserts status 2 and one line; returns the line."""
  with pytest.raises(SystemExit) as e:
    main.execute(config, str(workdir), list(argv))
  err = capsys.readouterr().err
  assert e.value.code == 2, err
  assert err.startswith('error: ') and err.count('\n') == 1 and 'Traceback' not in err, err
  return err.strip()


def finals(results):
  return {m: [r['final_oa'] for r in v['runs']] for m, v in results.items() if m != 'meta'}


# 1. Config values: every field is typed and ranged before anything is read or written.
@pytest.mark.parametrize('field, value, says', [
    ('seed', -1, 'seed must be an integer in [0, 2**63), got -1.'),
    ('data.shapes.num_train_per_class', 0, 'data.shapes.num_train_per_class must be a positive'),
    ('data.shapes.num_test_per_class', -3, 'data.shapes.num_test_per_class must be a positive'),
    ('data.shapes.max_crop', 1.5, 'data.shapes.max_crop must be a finite number in [0, 1)'),
    ('data.shapes.max_crop', float('nan'), 'data.shapes.max_crop must be a finite number in'),
    ('distill.lr', float('inf'), 'distill.lr must be a finite number > 0, got inf.'),
    ('distill.lr', 0.0, 'distill.lr must be a finite number > 0, got 0.0.'),
    ('eval.lr', -1e-3, 'eval.lr must be a finite number > 0'),
    ('eval.lr_min', 0.5, 'eval.lr_min (0.5) exceeds eval.lr (0.001)'),
    ('eval.weight_decay', float('nan'), 'eval.weight_decay must be a finite number >= 0'),
    ('model.rotator_tau', -1.0, 'model.rotator_tau must be a finite number > 0'),
    ('model.arch', 'pointnet9', "model.arch 'pointnet9' is unknown; use one of "
                                f"{', '.join(registry.names('networks'))}."),
    ('data.variant', 'zz', "data.variant 'zz' is unknown; use one of '', 'obj_bg'"),
    ('methods.dd3d.type', 'nope', "methods.dd3d.type 'nope' is unknown; use one of dd3d,"),
    ('methods.dd3d.hidden', 0, 'methods.dd3d.hidden must be a positive integer, got 0.'),
    ('eval.schedule', 'linear', "eval.schedule 'linear' is unknown; use one of cosine, step."),
    ('distill.class_chunk', -2, 'distill.class_chunk must be -1 (auto), 0 (one vmap) or a'),
    ('distill.train_points', 128, 'distill.train_points (128) exceeds data.num_points (64)'),
    ('eval.methods', 'dd3d,dd3d', "eval.methods 'dd3d,dd3d' names a method twice."),
    ('matmul_precision', 'fast', "matmul_precision 'fast' is unknown; use one of default,"),
    ('eval.backbones', 'pointnet,gcn', "eval.backbones 'gcn' is unknown; use one of dgcnn,"),
    ('seed', 2 ** 64, 'seed must be an integer in [0, 2**63), got 18446744073709551616.'),
])
def test_bad_config_value(field, value, says, copy, capsys):
  config = tiny_config()
  section, _, leaf = field.rpartition('.')
  target = config
  for part in filter(None, section.split('.')):
    target = target[part]
  target[leaf] = value
  before = snapshot(copy)
  assert refused(config, copy, capsys).startswith(f'error: {says}')
  assert snapshot(copy) == before


def test_a_bad_value_is_reported_before_the_pipeline_loads(tmp_path):
  """The one line comes before Orbax and matplotlib are imported (a second sooner)."""
  code = ('import sys\nfrom dd3d_jax import main\nfrom tests.tiny import tiny_config\n'
          'c = tiny_config()\nc.seed = -1\ntry:\n  main.execute(c, sys.argv[1], ["x"])\n'
          'except SystemExit as e:\n  print(e.code, *(m in sys.modules for m in '
          '("dd3d_jax.pipeline", "orbax.checkpoint", "matplotlib")))\n')
  out = subprocess.run([sys.executable, '-c', code, str(tmp_path / 'w')], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
  assert out.stdout.split() == ['2', 'False', 'False', 'False'], out.stdout + out.stderr
  assert out.stderr.startswith('error: seed must be') and not (tmp_path / 'w').exists()


def test_tm_start_window_must_not_be_empty(copy, capsys):
  config = tiny_config('tm')
  config.methods.tm.min_start_epoch = 1  # tiny's max_start_epoch is 1
  before = snapshot(copy)
  assert refused(config, copy, capsys) == (
      'error: methods.tm.min_start_epoch (1) must be below max_start_epoch (1); lower it or '
      'raise max_start_epoch.')
  assert snapshot(copy) == before


def test_every_field_has_a_rule():
  fields = workdir_lib.flatten(json.loads(config_lib.base_config().to_json()))
  assert {k for k in fields if not k.startswith('methods.')} == set(config_lib.FIELDS)
  for name, entry in config_lib.base_config().methods.items():  # each method's own rules
    module = registry.get('methods', entry.type)
    rules = module.fields_of(entry, name) if hasattr(module, 'fields_of') else module.FIELDS
    assert set(entry) - {'type'} <= {*rules, *config_lib.COMMON_METHOD_FIELDS}, name


@pytest.mark.parametrize('text, says', [
    ('def get_config(:\n', 'line 1: invalid syntax; fix the config file.'),
    ('X = 1\n', 'defines no get_config()'),
    ('def get_config():\n  return 3\n', 'does not return a ConfigDict'),
    ('def get_config():\n  return undefined_name\n', "raised NameError: name 'undefined_name'"),
    ('def get_config():\n  raise ValueError("boom")\n', 'get_config() raised ValueError: boom;'),
    ('from dd3d_jax.config import base_config\ndef get_config():\n  c = base_config()\n'
     '  c.distill.iterations = "many"\n  return c\n',
     "get_config() raised TypeError: Could not override field 'iterations'"),
])
def test_bad_config_file(text, says, tmp_path):
  path = tmp_path / 'bad.py'
  path.write_text(text)
  out = subprocess.run([sys.executable, '-m', 'dd3d_jax.main', f'--config={path}',
                        f'--workdir={tmp_path / "w"}'], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
  assert out.returncode == 2 and out.stderr.count('\n') == 1, out.stderr
  assert says in out.stderr and 'Traceback' not in out.stderr
  assert not (tmp_path / 'w').exists()


@pytest.mark.parametrize('args, says', [
    (['--config=configs/shapes.py', 'extra'], "unexpected arguments 'extra'; every setting is"),
    (['--config=configs/shapes.py', '--flagfile=/no/such/flagfile'], 'Unable to open flagfile'),
    (['--config=configs/shapes.py:rotated=maybe'], "rotated='maybe' is not true or false"),
])
def test_bad_command_line(args, says, tmp_path):
  out = subprocess.run([sys.executable, '-m', 'dd3d_jax.main', *args,
                        f'--workdir={tmp_path / "w"}'], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
  assert out.returncode == 2 and out.stderr.count('\n') == 1, out.stderr
  assert says in out.stderr and 'Traceback' not in out.stderr
  assert not (tmp_path / 'w').exists()


# 2. The workdir: checked before the data is loaded; a failed write is one line.
def _file(tmp_path):
  (tmp_path / 'f').write_text('x')
  return tmp_path / 'f', 'is a file, not a folder'


def _inside_file(tmp_path):
  (tmp_path / 'f').write_text('x')
  return tmp_path / 'f' / 'w', 'lies inside the file'


def _not_writable(tmp_path, monkeypatch):
  def denied(*args, **kwargs):
    raise PermissionError(errno.EACCES, 'Permission denied')
  monkeypatch.setattr(workdir_lib.tempfile, 'TemporaryFile', denied)
  return tmp_path / 'w', 'cannot be written'


def _disk_full(tmp_path, monkeypatch):
  monkeypatch.setattr(workdir_lib.shutil, 'disk_usage',
                      lambda path: shutil._ntuple_diskusage(10 << 30, 10 << 30, 5 << 20))
  return tmp_path / 'w', 'only 5 MiB free on its disk'


@pytest.mark.parametrize('make', [_file, _inside_file, _not_writable, _disk_full])
def test_unusable_workdir(make, tmp_path, monkeypatch, capsys):
  args = (tmp_path, monkeypatch) if make in (_not_writable, _disk_full) else (tmp_path,)
  workdir, says = make(*args)
  before = snapshot(tmp_path)
  assert says in refused(tiny_config(), workdir, capsys)
  assert snapshot(tmp_path) == before


def test_an_empty_workdir_path_is_one_line(capsys):
  assert refused(tiny_config(), '', capsys) == (
      'error: --workdir is empty; pass the path of a folder for the run (it is created if '
      'needed).')


@pytest.mark.parametrize('name, kind', [('checkpoints/dd3d_0', 'file'), ('runs/dd3d', 'file'),
                                        ('metrics.jsonl', 'folder'), ('results.json', 'folder')])
def test_a_file_or_folder_of_the_wrong_kind_is_one_line(name, kind, copy, capsys):
  path = os.path.join(copy, name)
  shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
  if kind == 'file':
    with open(path, 'w') as f:
      f.write('x')
  else:
    os.makedirs(os.path.join(path, 'inside'))
  before = snapshot(copy)
  where = 'a folder' if kind == 'file' else 'a file'
  assert refused(tiny_config(), copy, capsys) == (
      f'error: {path} is a {kind}, where the run keeps {where}; move it out of the workdir and '
      'run the command again.')
  assert snapshot(copy) == before


@pytest.mark.parametrize('where', ['metrics', 'checkpoint', 'set'])
def test_failed_write_is_one_line_and_the_rerun_finishes_alike(where, finished, tmp_path,
                                                               monkeypatch, capsys):
  workdir = tmp_path / 'w'
  full = OSError(errno.ENOSPC, 'No space left on device')
  if where == 'metrics':  # the 2nd line of the log cannot be appended
    calls, append = [], records.append_jsonl

    def append_until_full(path, record):
      calls.append(path)
      if len(calls) == 2:
        full.filename = path
        raise full
      append(path, record)
    monkeypatch.setattr(records, 'append_jsonl', append_until_full)
  elif where == 'checkpoint':
    save = Checkpointer.save

    def no_room(*args, **kwargs):
      raise full

    def save_until_full(self, step, state, force=False):
      if step == 2:  # Orbax itself fails to write the second checkpoint
        monkeypatch.setattr(self._manager, 'save', no_room)
      return save(self, step, state, force)
    monkeypatch.setattr(Checkpointer, 'save', save_until_full)
  else:
    def no_room(*args, **kwargs):
      raise OSError(errno.ENOSPC, 'No space left on device', str(workdir / 'sets'))
    monkeypatch.setattr(records, 'write_npz', no_room)
  methods = 'dd3d' if where == 'checkpoint' else 'random'  # what reaches that write fastest
  line = refused(tiny_config(methods), workdir, capsys)
  assert 'No space left on device' in line and 'run the same command again' in line
  monkeypatch.undo()
  assert finals(pipeline.run(tiny_config(methods), str(workdir)))[methods] == finals(
      finished[1])[methods]


# 3. Damaged workdir files: one line naming the file and the fix; a torn log line and
# a damaged summary are repaired.
def _garbage(path):
  with open(path, 'wb') as f:
    f.write(b'\x93\x00 not what was written')


@pytest.mark.parametrize('name, says', [
    ('config.json', 'config.json is damaged'),
    ('runs/dd3d/d0_pointnet_s0.json', 'd0_pointnet_s0.json is damaged'),
    ('sets/dd3d_0.npz', 'dd3d_0.npz is damaged'),
    ('sets/random_0.npz', 'random_0.npz is damaged'),
    ('features/e1.npz', 'e1.npz is damaged'),
    ('experts/0123456789ab_e0.npz', 'e0.npz is damaged'),
    ('metrics.jsonl', 'metrics.jsonl line 1 is damaged; delete that line'),
])
def test_damaged_file(name, says, copy, capsys):
  path = os.path.join(copy, name)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  if name == 'metrics.jsonl':
    with open(path) as f:
      lines = f.readlines()
    lines[0] = '{"method": "dd3d", "iter\n'
    with open(path, 'w') as f:
      f.writelines(lines)
  else:
    _garbage(path)
  before = snapshot(copy)
  line = refused(tiny_config(), copy, capsys)
  assert says in line and ('delete' in line or 'new --workdir' in line), line
  assert snapshot(copy) == before


def test_torn_last_log_line_is_dropped_with_a_warning(copy, caplog):
  with open(os.path.join(copy, 'metrics.jsonl'), 'a') as f:
    f.write('{"method": "dd3d", "distill": 0, "iter')
  config = tiny_config()
  config.eval.num_evals = 2  # something to do, so the workdir is opened for writing
  with caplog.at_level('WARNING', logger='dd3d_jax'):
    pipeline.run(config, copy)
  assert 'dropped a torn last line' in caplog.text
  records.read_jsonl(os.path.join(copy, 'metrics.jsonl'))  # every line whole again


@pytest.mark.parametrize('content', [b'\x93\x00 not JSON', b'[]', b'{"dd3d": 5}',
                                     b'{"meta": {}}', b'{"dd3d": {"final_oa_mean": 1}}'])
def test_damaged_summary_is_rewritten(content, copy, finished, caplog):
  with open(os.path.join(copy, 'results.json'), 'wb') as f:
    f.write(content)
  with caplog.at_level('WARNING', logger='dd3d_jax'):
    results = pipeline.run(tiny_config(), copy)
  assert 'results.json is damaged' in caplog.text
  assert finals(results) == finals(finished[1])
  with open(os.path.join(copy, 'results.json')) as f:
    assert finals(json.load(f)) == finals(finished[1])


# 3b. A re-run restores every derived file it can.
@pytest.mark.parametrize('how', ['deleted', 'damaged, then deleted as told'])
def test_a_lost_set_is_exported_again_from_its_checkpoint(how, copy, finished, capsys, caplog):
  kept = {n: h for n, h in snapshot(copy).items() if n.startswith(('runs', 'checkpoints'))}
  with open(os.path.join(copy, 'metrics.jsonl')) as f:
    log = f.read()
  for name in ('dd3d_0.npz', 'random_0.npz'):
    _garbage(os.path.join(copy, 'sets', name))
  if how != 'deleted':
    assert 'the set is exported again from its checkpoint' in refused(tiny_config(), copy,
                                                                      capsys)
  for name in ('sets/dd3d_0.npz', 'sets/random_0.npz', 'renders/dd3d/overview.png', 'loss.png'):
    os.remove(os.path.join(copy, name))
  with caplog.at_level('INFO', logger='dd3d_jax'):
    assert finals(pipeline.run(tiny_config(), copy)) == finals(finished[1])
  assert 'dd3d 0: already distilled (3 steps).' in caplog.text  # restored, not distilled again
  assert [m.split(':')[0] for m in caplog.messages[:2]] == [  # the log starts with the devices
      f'JAX {jax.__version__}, cpu backend', 'dataset shapes']
  for name in ('dd3d_0.npz', 'random_0.npz'):
    with np.load(os.path.join(finished[0], 'sets', name)) as a, \
         np.load(os.path.join(copy, 'sets', name)) as b:
      for key in a.files:
        np.testing.assert_array_equal(a[key], b[key])
  assert os.path.exists(os.path.join(copy, 'renders', 'dd3d', 'overview.png'))
  assert os.path.exists(os.path.join(copy, 'loss.png'))
  assert {n: h for n, h in snapshot(copy).items() if n in kept} == kept  # nothing redone
  with open(os.path.join(copy, 'metrics.jsonl')) as f:
    assert f.read() == log


@pytest.mark.parametrize('content', [None, b'[]', b'\x93\x00 not JSON', b'{"methods": "dd3d"}'])
def test_a_lost_plan_is_written_again_and_tables_read_it(content, copy, capsys):
  path = os.path.join(copy, 'plan.json')
  with open(path) as f:
    plan = json.load(f)
  os.remove(path)
  if content is not None:
    with open(path, 'wb') as f:
      f.write(content)
  assert tables.main([copy]) == 2
  err = capsys.readouterr().err
  assert 'no plan.json' in err if content is None else 're-run the pipeline' in err
  pipeline.run(tiny_config(), copy)
  with open(path) as f:
    assert json.load(f) == plan
  assert tables.main([copy]) == 0


def test_a_missing_loss_plot_of_a_finished_run_is_drawn_again(copy):
  os.remove(os.path.join(copy, 'loss.png'))
  before = snapshot(copy)
  pipeline.run(tiny_config(), copy)
  after = snapshot(copy)
  assert 'loss.png' in after and {n: h for n, h in after.items() if n != 'loss.png'} == before


# 4. A NaN names the exact command that fixes it.
@pytest.mark.parametrize('method, field, lr', [('dd3d', 'distill.lr', 1e-3),
                                               ('gm', 'methods.gm.lr', 0.05),
                                               ('tm', 'methods.tm.lr_lr', 1e-7)])
def test_nan_names_the_retry_command(method, field, lr, tmp_path, monkeypatch, capsys):
  def diverge(*args, **kwargs):
    raise runner.Diverged(f'{method} 0', 3, float('nan'), 2)
  monkeypatch.setattr(runner, 'fit', diverge)
  config = tiny_config(method)
  if method == 'gm':
    config.methods.gm.lr = 0.05
  argv = ['dd3d_jax.main', '--config=tests/tiny.py', f'--workdir={tmp_path / "w"}']
  line = refused(config, tmp_path / 'w', capsys, argv)
  assert f'the loss became nan at step 3 (the last good state is checkpointed at step 2); ' \
         f'lower {field} (now {lr:g})' in line
  assert line.endswith(f'Run: python -m dd3d_jax.main --config=tests/tiny.py '
                       f'--config.{field}={lr / 10:g} '
                       f'--workdir={tmp_path / "w"}_{field.split(".")[-1]}{lr / 10:g}')


# 5. Other evaluation settings on finished runs: said, with how to re-evaluate.
@pytest.mark.parametrize('field, value', [('epochs', 3), ('lr', 2e-3), ('augment', False),
                                          ('test_every', 2), ('batch_size', 8),
                                          ('densify', True)])
def test_other_evaluation_settings_are_refused_with_the_fix(field, value, copy, capsys):
  config = tiny_config()
  config.eval[field] = value
  before = snapshot(copy)
  line = refused(config, copy, capsys)
  assert 'were evaluated with other evaluation settings' in line and f'eval.{field}' in line
  assert 'add --config.eval.reevaluate=True' in line
  assert snapshot(copy) == before


def test_reevaluation_records_the_new_settings(copy):
  config = tiny_config()
  config.eval.epochs, config.eval.reevaluate = 3, True
  pipeline.run(config, copy)
  with open(os.path.join(copy, 'runs', 'dd3d', 'd0_pointnet_s0.json')) as f:
    assert json.load(f)['protocol']['epochs'] == 3
  config.eval.reevaluate = False
  pipeline.run(config, copy)  # the runs now match: accepted, nothing redone
  config.eval.test_batch = 7  # does not change results: accepted
  pipeline.run(config, copy)


def test_a_run_file_older_than_a_protocol_field_counts_at_its_default(copy):
  path = os.path.join(copy, 'runs', 'dd3d', 'd0_pointnet_s0.json')
  with open(path) as f:
    run = json.load(f)
  del run['protocol']['densify']  # written before runs could be densified
  with open(path, 'w') as f:
    json.dump(run, f)
  before = snapshot(copy)
  pipeline.run(tiny_config(), copy)  # accepted: densify=False is what it was evaluated with
  assert snapshot(copy) == before


# 6. A SIGKILL at a random step: the same command resumes to the same bits.
def test_sigkill_at_a_random_step_resumes_bit_identically(finished, tmp_path, caplog):
  whole, at = finished, random.randrange(1, tiny_config().distill.iterations)
  workdir = tmp_path / 'killed'
  cmd = [sys.executable, '-m', 'dd3d_jax.main', '--config=tests/tiny.py',
         f'--workdir={workdir}']
  proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  log, t0 = workdir / 'metrics.jsonl', time.time()
  while proc.poll() is None and time.time() - t0 < 120:
    if log.exists() and any(m.get('iteration', 0) >= at for m in records.read_jsonl(str(log))):
      break
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  with caplog.at_level('INFO', logger='dd3d_jax'):
    resumed = pipeline.run(tiny_config(), str(workdir))
  assert f'took over the lock of process {proc.pid}' in caplog.text  # its lock outlived it
  assert finals(resumed) == finals(whole[1]), f'killed at step >= {at}'
  for name in ('dd3d_0.npz', 'random_0.npz'):
    with np.load(os.path.join(whole[0], 'sets', name)) as a, np.load(workdir / 'sets' / name) as b:
      np.testing.assert_array_equal(a['points'], b['points'])


def test_shipped_configs_load_by_name_from_any_directory_and_help_lists_the_fields(tmp_path):
  names = config_lib.config_files()
  assert {'shapes', 'modelnet40', 'scanobjectnn'} <= set(names)
  assert config_lib.resolve_config('shapes:cpc=2') == names['shapes'] + ':cpc=2'
  assert config_lib.resolve_config('configs/shapes.py') == 'configs/shapes.py'
  out = subprocess.run([sys.executable, '-m', 'dd3d_jax.main', '--config=shapes:cpc=2',
                        f'--workdir={tmp_path / "w"}', '--config.eval.methods=nope'],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
  assert out.returncode == 2 and "eval.methods names 'nope'" in out.stderr, out.stderr
  out = subprocess.run([sys.executable, '-m', 'dd3d_jax.main', '--config=shapez',
                        f'--workdir={tmp_path / "w"}'], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
  assert out.returncode == 2 and 'neither a file nor a shipped config' in out.stderr
  assert not (tmp_path / 'w').exists()
  out = subprocess.run([sys.executable, '-m', 'dd3d_jax.main', '--help'], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
  assert 'distill.cpc = 1' in out.stdout + out.stderr
  assert 'modelnet40' in out.stdout + out.stderr


# 7. Ctrl-C: one line saying where it stopped, status 130; the same command resumes.
@pytest.mark.parametrize('where, says', [
    ('step', 'interrupted at step 3 of 3 (method dd3d, distill 0); run the same command again '
             'to resume from step 2 (finished runs are kept).'),
    ('evaluation', 'interrupted in evaluation run 1 of 1 (method dd3d, distill 0, backbone '
                   'pointnet); run the same command again to redo that run (finished runs are '
                   'kept).'),
])
def test_ctrl_c_is_one_line_and_the_same_command_resumes_alike(where, says, finished, tmp_path,
                                                              monkeypatch, capsys):
  owner, name, n = (runner, '_step', 2) if where == 'step' else (evaluate.Evaluator, 'run', 0)
  original, calls = getattr(owner, name), []

  def interrupted(*args, **kwargs):
    calls.append(1)
    if len(calls) == n + 1:
      raise KeyboardInterrupt
    return original(*args, **kwargs)
  monkeypatch.setattr(owner, name, interrupted)
  workdir = tmp_path / 'w'
  with pytest.raises(SystemExit) as e:
    main.execute(tiny_config(), str(workdir), ['dd3d_jax.main'])
  err = capsys.readouterr().err
  assert e.value.code == 130 and err == says + '\n'
  assert not (workdir / lock.NAME).exists()
  monkeypatch.undo()
  assert finals(pipeline.run(tiny_config(), str(workdir))) == finals(finished[1])
  with np.load(os.path.join(finished[0], 'sets', 'dd3d_0.npz')) as a, \
       np.load(workdir / 'sets' / 'dd3d_0.npz') as b:
    np.testing.assert_array_equal(a['points'], b['points'])


# 8. One writer per workdir, between real processes.
def run_main(workdir, *args):
  return subprocess.run([sys.executable, '-m', 'dd3d_jax.main',
                         '--config=tests/tiny.py', f'--workdir={workdir}',
                         *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_a_second_run_on_a_workdir_in_use_is_one_line_and_writes_nothing(copy):
  hold = ('import sys, time\nfrom dd3d_jax import lock\n'
          'with lock.hold(sys.argv[1]):\n  print("held", flush=True)\n  time.sleep(300)')
  holder = subprocess.Popen([sys.executable, '-c', hold, copy], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
  try:
    assert holder.stdout.readline() == 'held\n'
    before = snapshot(copy)
    out = run_main(copy)
    assert out.returncode == 2 and out.stderr.count('\n') == 1, out.stderr
    assert out.stderr.startswith(f'error: {copy} is in use by process {holder.pid} on host '
                                 f'{socket.gethostname()} (started ')
    assert snapshot(copy) == before
  finally:
    holder.kill()
    holder.wait()


def test_the_lock_of_a_killed_run_is_taken_over_with_a_warning(copy):
  dead = subprocess.Popen([sys.executable, '-c', 'pass'])
  dead.wait()
  with open(os.path.join(copy, lock.NAME), 'w') as f:
    json.dump({'host': socket.gethostname(), 'pid': dead.pid, 'started': 'earlier'}, f)
  out = run_main(copy)
  assert out.returncode == 0, out.stderr
  assert f'took over the lock of process {dead.pid} on host {socket.gethostname()}' in out.stderr
  assert 'every run is finished' in out.stderr and not os.path.exists(
      os.path.join(copy, lock.NAME))
