"""The common backbone suite on the reference PointNet."""

import pytest

from tests.models.backbone_suite import *  # noqa: F401,F403  (the common tests)


@pytest.fixture(scope='module')
def backbone():
  return 'pointnet', {}, False  # the reference PointNet has no dropout
