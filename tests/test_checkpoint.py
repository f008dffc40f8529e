"""Checkpoints: a damaged latest step is detected (checksum or failed restore), moved
aside, and the run falls back to the newest intact step and ends bit-identical."""

import os
import shutil
import signal

import chex
import jax
import jax.numpy as jnp
import pytest

from dd3d_jax import records, runner
from dd3d_jax.checkpoint import CHECKSUM, Checkpointer
from dd3d_jax.errors import UserError
from tests.test_runner import Toy, make_run


def _data_files(step_dir):
  """The files that hold array bytes (not metadata), largest first."""
  found = [os.path.join(r, f) for r, _, fs in os.walk(step_dir) for f in fs
           if os.sep + 'd' + os.sep in os.path.join(r, f) and not f.startswith(CHECKSUM)]
  return sorted(found, key=os.path.getsize, reverse=True)


def _random_bytes(step_dir):
  path = _data_files(step_dir)[0]
  size = os.path.getsize(path)
  with open(path, 'r+b') as f:
    f.seek(size // 2)
    f.write(bytes(255 - b for b in f.read(8)))  # changed, whatever was there


def _truncate(step_dir):
  path = _data_files(step_dir)[0]
  with open(path, 'r+b') as f:
    f.truncate(os.path.getsize(path) // 2)


def _missing_metadata(step_dir):
  os.remove(os.path.join(step_dir, '_CHECKPOINT_METADATA'))


def _checksum_garbage(step_dir):
  with open(os.path.join(step_dir, CHECKSUM), 'wb') as f:
    f.write(b'\x00\xff not json')


def _unverified_and_truncated(step_dir):
  """A step without a checksum (older code, or killed right after Orbax's commit) whose
  data is cut: Orbax's own restore fails."""
  os.remove(os.path.join(step_dir, CHECKSUM))
  for path in _data_files(step_dir):
    with open(path, 'r+b') as f:
      f.truncate(0)


def _replaced_by_a_file(step_dir):
  shutil.rmtree(step_dir)
  with open(step_dir, 'w') as f:
    f.write('not a checkpoint')


@pytest.mark.parametrize('damage', [_random_bytes, _truncate, _missing_metadata,
                                    _checksum_garbage, _unverified_and_truncated,
                                    _replaced_by_a_file])
def test_damaged_latest_checkpoint_falls_back_and_ends_bit_identical(damage, tmp_path, caplog):
  key, real = jax.random.key(0), jnp.float32(0.5)
  whole = runner.fit(Toy(), real, key, make_run(tmp_path, 'whole'))
  run = make_run(tmp_path, 'cut')  # checkpoints every 2 steps, keeps 3
  runner.fit(Toy(num_steps=4), real, key, run)
  damage(os.path.join(run.directory, '4'))
  with caplog.at_level('WARNING', logger='dd3d_jax'):
    resumed = runner.fit(Toy(), real, key, run)
  assert 'checkpoint' in caplog.text and 'is damaged' in caplog.text
  assert 'falling back' in caplog.text
  chex.assert_trees_all_equal(resumed['x'], whole['x'])
  assert [m['iteration'] for m in records.read_jsonl(run.metrics_path)] == list(range(1, 7))
  assert os.path.exists(os.path.join(run.directory + '.damaged', '4'))  # kept, not deleted


def test_every_checkpoint_damaged_starts_over(tmp_path):
  key, real = jax.random.key(0), jnp.float32(0.5)
  whole = runner.fit(Toy(), real, key, make_run(tmp_path, 'whole'))
  run = make_run(tmp_path, 'cut')
  runner.fit(Toy(num_steps=4), real, key, run)
  for step in (2, 4):
    _random_bytes(os.path.join(run.directory, str(step)))
  resumed = runner.fit(Toy(), real, key, run)
  chex.assert_trees_all_equal(resumed['x'], whole['x'])


def test_intact_checkpoints_verify_and_checksums_cover_every_file(tmp_path):
  ckpt = Checkpointer(str(tmp_path / 'c'), every=1)
  state = {'a': jnp.arange(4.0), 'b': jnp.ones((2, 2))}
  ckpt.save(1, state)
  assert ckpt.verify(1) is None
  _random_bytes(str(tmp_path / 'c' / '1'))
  assert 'differ from their checksum' in ckpt.verify(1)
  ckpt.close()


def test_a_failed_save_is_one_user_error(tmp_path, monkeypatch):
  ckpt = Checkpointer(str(tmp_path / 'c'), every=1)

  def full_disk(*args, **kwargs):
    raise OSError(28, 'No space left on device')

  monkeypatch.setattr(ckpt._manager, 'save', full_disk)
  with pytest.raises(UserError, match=r'cannot save the checkpoint of step 1 .*No space left on '
                                      r'device.*run the same command again'):
    ckpt.save(1, {'a': jnp.zeros(2)})
  ckpt.close()


@pytest.mark.parametrize('handler', [signal.default_int_handler, signal.SIG_IGN])
def test_a_ctrl_c_during_a_save_takes_effect_when_the_save_is_complete(handler, tmp_path,
                                                                       monkeypatch):
  ckpt = Checkpointer(str(tmp_path / 'c'), every=1)
  save = ckpt._manager.save

  def save_with_ctrl_c(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGINT)  # lands in the middle of Orbax's save
    return save(*args, **kwargs)

  monkeypatch.setattr(ckpt._manager, 'save', save_with_ctrl_c)
  before = signal.signal(signal.SIGINT, handler)  # pytest-xdist's workers ignore SIGINT
  try:
    if handler is signal.SIG_IGN:  # an ignored Ctrl-C stays ignored
      ckpt.save(1, {'a': jnp.arange(3.0)})
    else:
      with pytest.raises(KeyboardInterrupt):
        ckpt.save(1, {'a': jnp.arange(3.0)})
    assert signal.getsignal(signal.SIGINT) is handler
  finally:
    signal.signal(signal.SIGINT, before)
  assert os.path.exists(tmp_path / 'c' / '1' / CHECKSUM) and ckpt.verify(1) is None
  ckpt.close()
