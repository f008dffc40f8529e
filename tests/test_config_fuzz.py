"""Fuzzing the config space: any value of any field, any method setting and any variant
string is either accepted (and then of the field's type and range) or refused with
one `ConfigError` line, never another exception; `main` then exits 2 with one line and
leaves the workdir as it was. Bounded here; `-m slow` runs many more examples."""

import json
import os

import hypothesis
import ml_collections
import pytest
from hypothesis import given, strategies as st

from dd3d_jax import config as config_lib
from dd3d_jax import main
from dd3d_jax.errors import ConfigError
from tests.tiny import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
hypothesis.settings.register_profile('suite', max_examples=60, deadline=None,
                                     suppress_health_check=list(hypothesis.HealthCheck))
hypothesis.settings.register_profile('long', max_examples=2000, deadline=None,
                                     suppress_health_check=list(hypothesis.HealthCheck))
SUITE = hypothesis.settings.get_profile('suite')
LONG = hypothesis.settings.get_profile('long')

VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(['dd3d', 'pointnet', 'tests.plugins.moments', 'os.path', '', 'adam', 'gm']),
    st.lists(st.integers(), max_size=2))
FIELDS = sorted(config_lib.FIELDS)
METHODS = sorted(config_lib.base_config().methods)


def _set(c: ml_collections.ConfigDict, dotted: str, value) -> ml_collections.ConfigDict:
  """`c` with `dotted` set to `value`, whatever its type (a config file can do that)."""
  d = c.to_dict()
  *parents, leaf = dotted.split('.')
  node = d
  for p in parents:
    node = node[p]
  node[leaf] = value
  return ml_collections.ConfigDict(d)


def _accepted_or_one_line(c) -> bool:
  try:
    config_lib.validate(c)
    return True
  except ConfigError as e:
    assert '\n' not in str(e) and str(e), repr(e)
    return False


def _field_values(field: str, value) -> None:
  c = _set(tiny_config(), field, value)
  if _accepted_or_one_line(c):
    rule = config_lib.FIELDS[field]
    assert rule.kind is not None or rule.ok(value), (field, value)


def _method_settings(method: str, key: str, value) -> None:
  c = _set(tiny_config(method), f'methods.{method}.{key}', value)
  _accepted_or_one_line(c)


@given(field=st.sampled_from(FIELDS), value=VALUES)
@SUITE
def test_any_value_of_any_field(field, value):
  _field_values(field, value)


@pytest.mark.slow
@given(field=st.sampled_from(FIELDS), value=VALUES)
@LONG
def test_any_value_of_any_field_long(field, value):
  _field_values(field, value)


KEYS = st.sampled_from(sorted({k for m in METHODS for k in config_lib.base_config().methods[m]}
                              | {'lr_rot', 'moment_weight', 'nonsense', 'objective', 'type'}))


@given(method=st.sampled_from(METHODS), key=KEYS, value=VALUES)
@SUITE
def test_any_setting_of_any_method(method, key, value):
  _method_settings(method, key, value)


@pytest.mark.slow
@given(method=st.sampled_from(METHODS), key=KEYS, value=VALUES)
@LONG
def test_any_setting_of_any_method_long(method, key, value):
  _method_settings(method, key, value)


VARIANTS = st.lists(st.sampled_from(['cpc', 'rotated', 'cpcs', '', '=', ',', '1', '10', '0',
                                     'true', 'false', 'maybe', '-3', 'x', ' ']),
                    max_size=8).map(''.join)


@given(arg=VARIANTS)
@SUITE
def test_any_variant_string(arg):
  config_file = os.path.join(ROOT, 'configs', 'shapes.py')
  namespace = {}
  with open(config_file) as f:
    exec(compile(f.read(), config_file, 'exec'), namespace)
  try:
    c = namespace['get_config'](arg)
  except ConfigError as e:
    assert '\n' not in str(e)
    return
  assert isinstance(c.distill.cpc, int) and isinstance(c.data.rotated, bool)
  _accepted_or_one_line(c)


@given(field=st.sampled_from(FIELDS), value=VALUES)
@hypothesis.settings(max_examples=8, deadline=None,
                     suppress_health_check=list(hypothesis.HealthCheck))
def test_main_refuses_in_one_line_and_keeps_the_workdir(field, value, tmp_path_factory):
  c = _set(tiny_config(), field, value)
  if _accepted_or_one_line(c):
    return
  workdir = tmp_path_factory.mktemp('w')
  (workdir / 'results.json').write_text(json.dumps({'kept': True}))
  with pytest.raises(SystemExit) as e:
    main.execute(c, str(workdir), ['dd3d_jax.main'])
  assert e.value.code == 2
  assert sorted(os.listdir(workdir)) == ['results.json']
  assert json.loads((workdir / 'results.json').read_text()) == {'kept': True}
