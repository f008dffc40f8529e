"""The workdir's lock: one holder at a time, released however the block ends, a stale one
(a dead process, a previous boot) taken over with a warning, one of another host or of
a live process refused in one line that says what to do. Two real processes: in
tests/test_main.py."""

import json
import os
import re
import socket
import subprocess
import sys

import pytest

from dd3d_jax import lock
from dd3d_jax.errors import UserError


def write_record(root, **fields):
  os.makedirs(root, exist_ok=True)
  record = {'host': socket.gethostname(), 'pid': os.getpid(), 'boot': lock._boot_id(),
            'started': '2026-01-01 00:00:00 +0000', **fields}
  with open(os.path.join(root, lock.NAME), 'w') as f:
    json.dump(record, f)


def dead_pid() -> int:
  child = subprocess.Popen([sys.executable, '-c', 'pass'])
  child.wait()
  return child.pid


def test_a_held_lock_refuses_a_second_holder_and_is_released(tmp_path):
  root = str(tmp_path / 'w')
  with lock.hold(root):
    with open(os.path.join(root, lock.NAME)) as f:
      assert json.load(f)['pid'] == os.getpid()
    says = (rf'{re.escape(root)} is in use by process {os.getpid()} on host '
            rf'{socket.gethostname()} \(started .*\): one run at a time writes a workdir; wait for '
            'it to end or stop it')
    with pytest.raises(UserError, match=says):
      with lock.hold(root):  # another open file: its flock conflicts, even in this process
        pass
    assert os.path.exists(os.path.join(root, lock.NAME))  # the refusal left it alone
  assert not os.path.exists(os.path.join(root, lock.NAME))


def test_the_lock_is_released_when_the_block_raises(tmp_path):
  root = str(tmp_path)
  with pytest.raises(KeyboardInterrupt):
    with lock.hold(root):
      raise KeyboardInterrupt
  assert os.listdir(root) == []
  with lock.hold(root):
    pass


@pytest.mark.parametrize('fields', [{'pid': 'dead'}, {'boot': 'an earlier boot', 'pid': 1}],
                         ids=['dead process', 'earlier boot'])
def test_a_stale_lock_is_taken_over_with_a_warning(fields, tmp_path, caplog):
  if fields['pid'] == 'dead':
    fields['pid'] = dead_pid()
  elif lock._boot_id() is None:
    pytest.skip('no boot id on this system')
  write_record(str(tmp_path), **fields)
  with caplog.at_level('WARNING', logger='dd3d_jax'), lock.hold(str(tmp_path)):
    with open(tmp_path / lock.NAME) as f:
      assert json.load(f)['pid'] == os.getpid()
  assert f'took over the lock of process {fields["pid"]} on host' in caplog.text
  assert 'which no longer runs' in caplog.text
  assert not (tmp_path / lock.NAME).exists()


def test_a_live_process_of_this_host_is_refused_even_without_its_flock(tmp_path):
  write_record(str(tmp_path), pid=os.getppid())  # alive: the process that started pytest
  says = (rf'in use by process {os.getppid()} on host .*stop it \(kill {os.getppid()}\).*if no '
          rf'dd3d_jax run has that process id, delete {re.escape(str(tmp_path / lock.NAME))}')
  with pytest.raises(UserError, match=says):
    with lock.hold(str(tmp_path)):
      pass
  with open(tmp_path / lock.NAME) as f:
    assert json.load(f)['pid'] == os.getppid()  # unchanged


def test_a_lock_of_another_host_is_refused_with_how_to_clear_it(tmp_path):
  write_record(str(tmp_path), host='gpu-node-7', pid=4242)
  with pytest.raises(UserError) as e:
    with lock.hold(str(tmp_path)):
      pass
  assert str(e.value) == (
      f'{tmp_path} is in use by process 4242 on host gpu-node-7 (started 2026-01-01 00:00:00 '
      '+0000): one run at a time writes a workdir; wait for it to end; if it no longer runs '
      f'(its machine was lost), delete {tmp_path / lock.NAME} and run the same command again.')


def test_an_empty_or_unreadable_lock_file_is_taken_over(tmp_path):
  for content in (b'', b'\x00\xff{'):
    (tmp_path / lock.NAME).write_bytes(content)
    with lock.hold(str(tmp_path)):
      pass
    assert not (tmp_path / lock.NAME).exists()


def test_a_workdir_made_for_the_lock_goes_again_if_nothing_was_written(tmp_path):
  root = tmp_path / 'a' / 'b'
  with pytest.raises(UserError):
    with lock.hold(str(root)):
      raise UserError('refused before anything was written')
  assert not (tmp_path / 'a').exists()
  with lock.hold(str(root)):
    (root / 'config.json').write_text('{}')
  assert os.listdir(root) == ['config.json']


def test_a_lock_that_is_a_folder_is_one_line(tmp_path):
  (tmp_path / lock.NAME).mkdir()
  with pytest.raises(UserError, match=r'\.lock is a folder, not the lock file .*move it out'):
    with lock.hold(str(tmp_path)):
      pass
