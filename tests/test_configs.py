"""Every config file loads, validates, and carries the reference values of its dataset."""

import importlib.util
import os

import pytest

from dd3d_jax import config as config_lib
from dd3d_jax.errors import ConfigError

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'configs')


def get_config(name, arg=None):
  spec = importlib.util.spec_from_file_location(name, os.path.join(CONFIGS, f'{name}.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  assert 'python -m dd3d_jax.main' in module.__doc__  # each docstring gives its command
  return config_lib.validate(module.get_config(arg))


@pytest.mark.parametrize('name, arg, loops, w0, iterations', [
    ('modelnet40', 'cpc=1', (10, 1), 100.0, 400),
    ('modelnet40', 'cpc=10', (20, 1), 100.0, 400),
    ('modelnet40', 'cpc=50', (40, 5), 100.0, 400),
    ('modelnet40', 'cpc=1,rotated', (5, 5), 100.0, 400),
    ('modelnet40', 'cpc=10,rotated', (20, 10), 100.0, 400),
    ('scanobjectnn', 'cpc=1', (10, 1), 50.0, 200),
    ('scanobjectnn', 'cpc=10', (20, 10), 50.0, 200),
    ('scanobjectnn', 'cpc=50', (30, 5), 50.0, 200),
    ('scanobjectnn', 'cpc=50,rotated', (40, 5), 50.0, 200),
    ('mvpnet100', 'cpc=10', (20, 1), 100.0, 400),
])
def test_reference_hyperparameters(name, arg, loops, w0, iterations):
  c = get_config(name, arg)
  assert (c.distill.outer_loop, c.distill.inner_loop) == loops
  assert c.distill.w0_initial == w0 and c.distill.iterations == iterations
  assert c.data.rotated == ('rotated' in arg)
  assert c.distill.lr == 1e-3 and c.distill.weight_decay == 5e-4 and c.distill.lr_net == 1e-3
  assert c.eval.epochs == 200 and c.eval.batch_size == 256 and c.eval.lr_min == 1e-4
  assert (c.num_distills, c.eval.num_evals) == (2, 5)


def test_mvpnet_batch_and_no_rotated_variant():
  assert get_config('mvpnet100').distill.batch_real == 128
  with pytest.raises(ConfigError, match="config variant 'rotated' is unknown"):
    get_config('mvpnet100', 'rotated')


@pytest.mark.parametrize('arg', [None, 'cpc=10', 'rotated'])
def test_shapes_quickstart_config(arg):
  c = get_config('shapes', arg)
  assert c.data.format == 'shapes' and c.distill.train_points < c.data.num_points


def test_validation_names_the_field():
  c = get_config('shapes')
  c.distill.train_points = 4096
  with pytest.raises(ConfigError, match=r'distill.train_points \(4096\) exceeds data.num_points'):
    config_lib.validate(c)
  c = get_config('shapes')
  c.eval.num_evals = 0
  with pytest.raises(ConfigError, match='eval.num_evals must be a positive integer, got 0'):
    config_lib.validate(c)


def test_parse_variant():
  allowed = {'cpc': int, 'rotated': bool}
  assert config_lib.parse_variant('cpc=10,rotated', allowed) == {'cpc': 10, 'rotated': True}
  assert config_lib.parse_variant('rotated=false', allowed) == {'rotated': False}
  assert config_lib.parse_variant(None, allowed) == {}
  with pytest.raises(ConfigError, match="cpc='x' is not a int"):
    config_lib.parse_variant('cpc=x', allowed)


@pytest.mark.parametrize('arg, loops, runs', [('cpc=1', (10, 1), 2), ('cpc=10', (20, 1), 1),
                                              ('cpc=1,rotated', (5, 5), 2),
                                              ('cpc=10,rotated', (20, 10), 1)])
def test_modelnet10_budget_config(arg, loops, runs):
  c = get_config('modelnet10', arg)
  assert (c.distill.outer_loop, c.distill.inner_loop) == loops
  assert (c.distill.iterations, c.distill.train_points, c.data.num_points) == (40, 256, 1024)
  assert c.eval.methods == 'dd3d,random' and c.eval.epochs == 200
  assert (c.num_distills, c.eval.num_evals) == (runs, runs)


def test_modelnet10_full_variant_evaluates_only_the_full_data():
  c = get_config('modelnet10', 'full')
  assert c.eval.methods == 'full' and c.eval.num_evals == 1
  with pytest.raises(ConfigError, match='has reference loops for cpc in'):
    get_config('modelnet10', 'cpc=50')
