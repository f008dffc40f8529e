"""`python -m dd3d_jax.data.inspect`: report, JSON last line, one-line errors."""

import json
import os
import subprocess
import sys

from dd3d_jax.data import inspect
from tests.data.test_readers import (MODELNET_CLASSES, write_modelnet, write_mvpnet,
                                     write_scanobjectnn)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(*args):
  return subprocess.run([sys.executable, '-m', 'dd3d_jax.data.inspect', *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=60)


def test_inspect_modelnet_and_damaged_copy(tmp_path):
  folder, _ = write_modelnet(str(tmp_path))
  out = run(folder, '--json')
  assert out.returncode == 0, out.stderr
  lines = out.stdout.strip().splitlines()
  assert lines[0] == 'format: modelnet40_h5'
  assert json.loads(lines[-1]) == {
      'format': 'modelnet40_h5', 'name': 'modelnet3', 'classes': list(MODELNET_CLASSES),
      'train': 8, 'test': 4, 'points': 64,
      'sizes': {s: {'min': 64, 'median': 64, 'max': 64} for s in ('train', 'test')}}
  assert any(line.split() == ['bed', '3', '2'] for line in lines)  # per-class counts table
  file = os.path.join(folder, 'ply_data_train0.h5')
  os.truncate(file, 2000)
  out = run(folder, '--json')
  assert out.returncode == 2 and out.stdout == ''
  assert out.stderr.count('\n') == 1 and out.stderr.startswith(
      f'error: {file}: unreadable or truncated HDF5 file'), out.stderr


def test_inspect_in_process(tmp_path, capsys):
  scan, _ = write_scanobjectnn(str(tmp_path))
  assert inspect.main([scan, '--json', '--variant', 'pb_t50_rs']) == 0
  last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert last['format'] == 'scanobjectnn_h5' and (last['train'], last['test']) == (30, 4)
  mvp = write_mvpnet(str(tmp_path))[0]
  assert inspect.main([mvp, '--json', '--num-points', '32']) == 0
  assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])['points'] == 32
  assert inspect.main([scan, '--variant', 'xyz']) == 2
  err = capsys.readouterr().err
  assert err.startswith("error: --variant 'xyz' is unknown") and err.count('\n') == 1
  assert inspect.main([str(tmp_path / 'nothing')]) == 2
  assert capsys.readouterr().err.startswith(f'error: {tmp_path / "nothing"}: no such file')



def test_inspect_command_line_errors_are_one_line(tmp_path, capsys):
  folder, _ = write_modelnet(str(tmp_path))
  cases = [
      ([], 'PATH is missing: give the dataset folder or .npz file (only --format shapes takes '
           'none)'),
      ([folder, 'extra'], 'unrecognized arguments: extra'),
      ([folder, '--num-points', '-5'], "argument --num-points: must be a whole number >= 1, got "
                                       "'-5'"),
      ([folder, '--num-points', '0'], "argument --num-points: must be a whole number >= 1"),
      ([folder, '--variant', 'junk'], "--variant 'junk' is unknown; use one of ['obj_bg', "
                                      "'obj_only', 'pb_t50_rs'] (ScanObjectNN only)"),
      ([folder, '--variant', 'obj_only'], "data.variant 'obj_only' only applies to ScanObjectNN, "
                                          f"and {folder} is modelnet40_h5"),
      ([folder, '--format', 'junk'], "argument --format: invalid choice: 'junk'"),
      (['/no/such', '--format', 'shapes'], "--format shapes generates its clouds and reads no "
                                           "PATH, got '/no/such'; drop PATH"),
      ([folder, '--bogus'], 'unrecognized arguments: --bogus'),
  ]
  for argv, message in cases:
    assert inspect.main(argv) == 2, argv
    out, err = capsys.readouterr()
    assert out == '' and err.startswith(f'error: {message}') and err.count('\n') == 1, (argv, err)
  out = run(folder, 'extra', '--num-points', '-5')  # the real exit status, no usage dump
  assert out.returncode == 2 and out.stdout == '' and out.stderr.count('\n') == 1
  assert out.stderr.startswith('error: argument --num-points: must be a whole number >= 1')


def test_inspect_procedural_shapes_takes_no_path(capsys):
  assert inspect.main(['--format', 'shapes', '--json', '--num-points', '16']) == 0
  last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert last['format'] == 'shapes' and last['points'] == 16 and last['train'] == 1200
