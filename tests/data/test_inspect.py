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
  assert json.loads(lines[-1]) == {'format': 'modelnet40_h5', 'classes': list(MODELNET_CLASSES),
                                   'train': 8, 'test': 4, 'points': 64}
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
  assert err.startswith("error: data.variant 'xyz' is unknown") and err.count('\n') == 1
  assert inspect.main([str(tmp_path / 'nothing')]) == 2
  assert capsys.readouterr().err.startswith(f'error: {tmp_path / "nothing"}: no such file')

