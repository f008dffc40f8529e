"""Memory bounds: what they count, and runs that cannot fit refused in one line before
anything is written (the available memory is patched, so the test does not depend on
the machine)."""

import os

import pytest

from dd3d_jax import config as config_lib
from dd3d_jax import data, pipeline, resources
from dd3d_jax.errors import ConfigError
from tests.tiny import tiny_config


def test_bounds_count_points_and_activations():
  assert resources.cloud_bytes(10, 1024) == 10 * 1024 * 3 * 4
  assert resources.activation_bytes(2, 256) == 2 * 2 * 256 * 1024 * 4
  c = tiny_config()
  assert data.planned_clouds(c.data) == 12 * (5 + 2)
  c.data.format = 'npz'
  assert data.planned_clouds(c.data) is None


def test_set_memory_counts_the_classes_mapped_at_once():
  from dd3d_jax.methods import set_memory
  s = config_lib.method_settings(tiny_config(), 'dd3d')
  s.class_chunk = 1
  one = set_memory(s, 10, 4)
  s.class_chunk = 0
  assert set_memory(s, 10, 4) == 10 * one == resources.activation_bytes(40, s.train_points)


@pytest.mark.parametrize('field, value, says', [
    ('distill.cpc', 100_000, 'lower distill.cpc or distill.train_points.'),
    ('data.num_points', 10_000_000, 'lower data.num_points (or the clouds per class).'),
])
def test_a_run_that_cannot_fit_is_refused_before_anything_is_written(field, value, says,
                                                                      tmp_path, monkeypatch):
  monkeypatch.setattr(resources, 'host_bytes', lambda: 2 ** 30)
  c = tiny_config('dd3d,random')
  section, leaf = field.split('.')
  c[section][leaf] = value
  if field == 'data.num_points':
    c.distill.train_points = 32
  workdir = tmp_path / 'w'
  with pytest.raises(ConfigError, match=r'need at least .* GiB, and the host has 1\.0 GiB'):
    pipeline.run(c, str(workdir))
  assert not os.path.exists(workdir)
  with pytest.raises(ConfigError, match=says.replace('(', r'\(').replace(')', r'\)')):
    pipeline.run(c, str(workdir))


def test_selections_have_no_bound_so_a_large_cpc_coreset_runs():
  from dd3d_jax import registry
  for name in ('random', 'herding', 'kcenter', 'full'):
    assert not hasattr(registry.get('methods', name), 'memory')
