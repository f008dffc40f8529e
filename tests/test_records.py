"""Plain-format records: atomic writes, torn log lines, failed writes named."""

import errno
import json
import os

import pytest

from dd3d_jax import records
from dd3d_jax.errors import UserError


def test_read_jsonl_skips_a_torn_last_line_and_refuses_a_damaged_one(tmp_path):
  path = str(tmp_path / 'm.jsonl')
  with open(path, 'w') as f:
    f.write('{"a": 1}\n{"a": 2}\n{"a": ')
  assert records.read_jsonl(path) == [{'a': 1}, {'a': 2}]
  with open(path, 'w') as f:
    f.write('{"a": 1}\n{"a\n{"a": 3}\n')
  with pytest.raises(UserError, match='m.jsonl line 2 is damaged; delete that line'):
    records.read_jsonl(path)
  with open(path, 'w') as f:  # JSON, but not a record: [] or a number
    f.write('{"a": 1}\n[]\n5\n')
  with pytest.raises(UserError, match='m.jsonl line 2 is damaged; delete that line'):
    records.read_jsonl(path)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
  path = str(tmp_path / 'r.json')
  records.write_json(path, {'ok': 1})
  with pytest.raises(TypeError):
    records.write_json(path, {'bad': object()})  # fails half-way through the dump
  with open(path) as f:
    assert json.load(f) == {'ok': 1}
  assert os.listdir(tmp_path) == ['r.json']


def test_naming_gives_an_os_error_its_path():
  with pytest.raises(OSError) as e:
    with records.naming('/some/file'):
      raise OSError(errno.ENOSPC, 'No space left on device')
  assert e.value.filename == '/some/file' and e.value.errno == errno.ENOSPC
