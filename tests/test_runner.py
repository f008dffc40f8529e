"""The generic runner on a toy method: resume, the NaN guard, metric lines, selections."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dd3d_jax import records, runner


@dataclasses.dataclass(frozen=True)
class Toy:
  """x <- x - 0.1 * (x - noise); the loss turns NaN at step `nan_at` (0: never)."""
  num_steps: int = 6
  nan_at: int = 0
  writes_set = True

  def init(self, key, real):
    return {'x': jax.random.normal(key, (3,)), 'it': jnp.zeros((), jnp.int32), 'key': key}

  def step(self, state, real):
    noise = jax.random.normal(jax.random.fold_in(state['key'], state['it']), (3,))
    x = state['x'] - 0.1 * (state['x'] - noise) + real
    it = state['it'] + 1
    loss = jnp.where(it == self.nan_at, jnp.nan, jnp.sum(x ** 2))
    return {'x': x, 'it': it, 'key': state['key']}, {'loss': loss}


def make_run(tmp_path, folder='a'):
  return runner.Run({'method': 'toy', 'distill': 0}, str(tmp_path / folder / 'ckpt'),
                    str(tmp_path / folder / 'metrics.jsonl'), checkpoint_every=2, log_every=1)


def test_resume_from_any_step_equals_uninterrupted(tmp_path):
  key, real = jax.random.key(0), jnp.float32(0.5)
  whole = runner.fit(Toy(), real, key, make_run(tmp_path, 'whole'))
  for stop in (1, 2, 3, 5):
    run = make_run(tmp_path, f'stop{stop}')
    runner.fit(Toy(num_steps=stop), real, key, run)  # a run cut short after `stop` steps
    resumed = runner.fit(Toy(), real, key, run)
    chex.assert_trees_all_equal(resumed['x'], whole['x'])
    assert [m['iteration'] for m in records.read_jsonl(run.metrics_path)] == list(range(1, 7))


def test_a_finished_run_is_restored_not_rerun(tmp_path):
  run = make_run(tmp_path)
  first = runner.fit(Toy(), jnp.float32(0), jax.random.key(1), run)
  lines = records.read_jsonl(run.metrics_path)
  again = runner.fit(Toy(), jnp.float32(0), jax.random.key(1), run)
  chex.assert_trees_all_equal(first['x'], again['x'])
  assert records.read_jsonl(run.metrics_path) == lines


def test_nan_stops_with_one_line_and_keeps_the_last_good_checkpoint(tmp_path):
  run = make_run(tmp_path)
  with pytest.raises(runner.Diverged, match=r'toy 0: the loss became nan at step 5 \(the last '
                                            r'good state is checkpointed at step 4\)'):
    runner.fit(Toy(nan_at=5), jnp.float32(0), jax.random.key(2), run)
  good = runner.fit(Toy(num_steps=4), jnp.float32(0), jax.random.key(2), make_run(tmp_path, 'b'))
  restored = runner.fit(Toy(num_steps=4), jnp.float32(0), jax.random.key(2), run)
  chex.assert_trees_all_equal(restored['x'], good['x'])
  assert [m['iteration'] for m in records.read_jsonl(run.metrics_path)] == [1, 2, 3, 4]


def test_a_selection_is_only_initialised(tmp_path):
  class Pick:
    num_steps = 0

    def init(self, key, real):
      return {'indices': np.arange(3)}

  state = runner.fit(Pick(), None, jax.random.key(0), make_run(tmp_path))
  np.testing.assert_array_equal(state['indices'], np.arange(3))
  assert not (tmp_path / 'a').exists()


def test_lines_written_after_the_last_checkpoint_are_dropped_on_resume(tmp_path, monkeypatch):
  key, real = jax.random.key(3), jnp.float32(0.1)
  whole = runner.fit(Toy(), real, key, make_run(tmp_path, 'whole'))
  save = runner.Checkpointer.save

  def killed_saving_step_4(self, step, state, force=False):
    if step == 4:
      raise KeyboardInterrupt('preempted')
    return save(self, step, state, force)

  run = make_run(tmp_path)
  monkeypatch.setattr(runner.Checkpointer, 'save', killed_saving_step_4)
  with pytest.raises(KeyboardInterrupt):
    runner.fit(Toy(), real, key, run)
  assert [m['iteration'] for m in records.read_jsonl(run.metrics_path)] == [1, 2, 3, 4]
  monkeypatch.setattr(runner.Checkpointer, 'save', save)
  resumed = runner.fit(Toy(), real, key, run)  # from step 2's checkpoint
  chex.assert_trees_all_equal(resumed['x'], whole['x'])
  assert [m['iteration'] for m in records.read_jsonl(run.metrics_path)] == list(range(1, 7))
