"""TensorBoard events (`config.tensorboard`), read back with TensorBoard's own reader: the
scalars are metrics.jsonl's lines, on disk as each line is, and shown once per step after
a resume; the sets are point clouds coloured by part or by class; tensorboardX is needed
only when asked for, and its absence is one line before anything is written."""

import os
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from dd3d_jax import config as config_lib
from dd3d_jax import pipeline, records, render, runner, tensorboard
from dd3d_jax.errors import ConfigError
from tests import events
from tests.events import f32
from tests.test_runner import Toy, make_run
from tests.tiny import tiny_config


def test_step_lines_are_scalars_on_disk_at_once_and_each_step_shows_once_after_a_resume(
    tmp_path, monkeypatch):
  key, real, root = jax.random.key(3), jnp.float32(0.1), str(tmp_path / 'tb')
  folder = os.path.join(root, 'distill', 'toy_0')
  save = runner.Checkpointer.save

  def killed_saving_step_4(self, step, state, force=False):
    if step == 4:
      raise KeyboardInterrupt('preempted')
    return save(self, step, state, force)

  board = tensorboard.Board(root, True)
  run = make_run(tmp_path)._replace(on_line=board.line)
  monkeypatch.setattr(runner.Checkpointer, 'save', killed_saving_step_4)
  with pytest.raises(KeyboardInterrupt):
    runner.fit(Toy(), real, key, run)
  lines = records.read_jsonl(run.metrics_path)
  # The writer is still open: every line so far is already on disk.
  assert events.scalars(folder)['loss'] == [(m['iteration'], f32(m['loss'])) for m in lines]
  board.close()
  monkeypatch.setattr(runner.Checkpointer, 'save', save)
  with tensorboard.Board(root, True) as board:  # resumes from step 2: 3 and 4 come again
    runner.fit(Toy(), real, key, run._replace(on_line=board.line))
  lines = records.read_jsonl(run.metrics_path)
  assert [m['iteration'] for m in lines] == list(range(1, 7))
  shown = events.scalars(folder)
  assert set(shown) == {'loss', 'seconds'}  # the numbers of a line but its labels
  for tag in shown:  # the resumed job's 'seconds' of steps 3 and 4, not the first's
    assert shown[tag] == [(m['iteration'], f32(m[tag])) for m in lines]
  assert len(os.listdir(folder)) == 2  # one event file per job


def test_a_redone_evaluation_run_replaces_its_earlier_scalars(tmp_path):
  root = str(tmp_path / 'tb')
  label = {'method': 'dm', 'distill': 1, 'backbone': 'pointnet', 'eval': 2}
  with tensorboard.Board(root, True) as board:  # an attempt cut short after epoch 2
    for epoch in (1, 2):
      board.line({**label, 'epoch': epoch, 'test_oa': 10.0 * epoch, 'test_macc': 1.0})
  redone = [{**label, 'epoch': epoch, 'test_oa': 50.0 + epoch, 'test_macc': 2.5}
            for epoch in (2, 4)]  # evaluated again, testing every second epoch
  with tensorboard.Board(root, True) as board:
    for line in redone:
      board.line(line)
  shown = events.scalars(os.path.join(root, 'eval', 'dm', 'd1_pointnet_s2'))
  assert shown == {f'test/{k}': [(m['epoch'], f32(m[f'test_{k}'])) for m in redone]
                   for k in ('oa', 'macc')}


def a_set():
  """Six clouds of 16 points, two of each of three classes (the second's name has a space)."""
  points = np.random.default_rng(0).normal(size=(6, 16, 3)).astype(np.float32)
  return points, np.array([0, 1, 2, 0, 1, 2]), ['cup', 'big box', 'cone']


def assert_apart(vertices: np.ndarray, clouds: np.ndarray) -> None:
  """`vertices` [C * N, 3] are the clouds [C, N, 3], each moved as a whole, none of them
  overlapping another."""
  offsets = vertices.reshape(clouds.shape) - clouds
  np.testing.assert_allclose(offsets, np.broadcast_to(offsets[:, :1], offsets.shape), atol=1e-5)
  radius = np.linalg.norm(clouds, axis=-1).max()
  centres = offsets[:, 0]
  gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
  assert (gaps[~np.eye(len(clouds), dtype=bool)] > 2 * radius).all()


def test_a_set_is_a_point_cloud_per_class_coloured_by_class_and_shown_once(tmp_path):
  points, labels, names = a_set()
  root = str(tmp_path / 'tb')
  for _ in range(2):  # made twice (its set file was lost): shown once
    with tensorboard.Board(root, True) as board:
      board.add_set('dd3d', 0, 40, points, labels, names)
  shown = events.clouds(os.path.join(root, 'sets', 'dd3d_0'))
  assert sorted(shown) == ['set/class_000_cup', 'set/class_001_big_box', 'set/class_002_cone']
  colours = []
  for c, tag in enumerate(sorted(shown)):
    steps, vertices, rgb = shown[tag]
    assert steps == [40] and vertices.shape == rgb.shape == (2 * 16, 3)
    assert_apart(vertices, points[labels == c])
    assert (rgb == rgb[0]).all()  # one colour per class
    colours.append(tuple(rgb[0]))
  assert len(set(colours)) == 3


def test_a_segmentation_set_is_coloured_by_part_as_its_renders(tmp_path):
  points, labels, names = a_set()
  parts = np.zeros((6, 16), int)
  parts[labels == 0] = 7 + np.arange(16) % 3  # the cup's parts 7, 8, 9; the others 12, 13
  parts[labels != 0] = 12 + (np.arange(16) >= 5)
  root = str(tmp_path / 'tb')
  with tensorboard.Board(root, True) as board:
    board.add_set('dd3d', 0, 40, points, labels, names, parts)
  shown = events.clouds(os.path.join(root, 'sets', 'dd3d_0'))
  for c, tag in enumerate(sorted(shown)):
    _, vertices, rgb = shown[tag]
    mine = parts[labels == c].reshape(-1)
    for part in np.unique(mine):  # a part is one colour, and no other part has it
      assert len(np.unique(rgb[mine == part], axis=0)) == 1
      assert not (rgb[mine != part] == rgb[mine == part][0]).all(-1).any()
    expected = render.part_colors(parts[labels == c])[..., :3].reshape(-1, 3)
    np.testing.assert_array_equal(rgb, np.round(expected * 255))  # the PNG renders' colours


def test_without_tensorboardx_asking_for_it_is_one_line_before_anything_is_written(
    tmp_path, monkeypatch):
  monkeypatch.setitem(sys.modules, 'tensorboardX', None)  # `import tensorboardX` fails
  config = tiny_config('random')
  config.tensorboard = True
  with pytest.raises(ConfigError) as e:
    pipeline.run(config, str(tmp_path / 'w'))
  assert str(e.value).startswith('tensorboard=True needs tensorboardX (')
  assert str(e.value).endswith("pip install 'dd3d_jax[tensorboard]', or set "
                               '--config.tensorboard=False.')
  assert '\n' not in str(e.value) and not (tmp_path / 'w').exists()
  board = tensorboard.Board(str(tmp_path / 'tb'), False)  # not asked for: not needed
  board.line({'method': 'dd3d', 'distill': 0, 'iteration': 1, 'loss': 1.0})
  board.add_set('dd3d', 0, 1, *a_set())
  board.close()
  assert not (tmp_path / 'tb').exists()


def test_the_field_is_listed_and_a_bad_value_is_one_line():
  assert '  tensorboard = False' in config_lib.describe().splitlines()
  config = ml_collections.ConfigDict({**tiny_config().to_dict(), 'tensorboard': 'yes'})
  with pytest.raises(ConfigError, match=r"^tensorboard must be True or False, got 'yes'\.$"):
    config_lib.validate(config)
