"""Every registered network runs the common backbone suite: a new `dd3d_jax.models`
module without a test module that imports `backbone_suite` for it fails here."""

import glob
import os
import re

import pytest

from dd3d_jax import registry

HERE = os.path.dirname(os.path.abspath(__file__))


def suites() -> set[str]:
  """The networks whose test module imports the suite and names them in `backbone`."""
  found = set()
  for path in glob.glob(os.path.join(HERE, 'test_*.py')):
    with open(path, encoding='utf-8') as f:
      text = f.read()
    if 'from tests.models.backbone_suite import *' in text:
      found |= set(re.findall(r"^\s+return '([a-z0-9_]+)'", text, re.M))
  return found


@pytest.mark.parametrize('name', registry.names('networks'))
def test_network_has_a_suite_module(name):
  assert name in suites(), (f'dd3d_jax.models.{name} has no tests/models/test_{name}.py '
                            'running tests.models.backbone_suite')
