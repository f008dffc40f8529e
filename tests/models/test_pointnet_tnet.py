"""The original PointNet (input T-Net, BatchNorm): the common suite and the full size."""

import jax
import jax.numpy as jnp
import pytest

from dd3d_jax.models import pointnet_tnet
from tests.models.backbone_suite import *  # noqa: F401,F403  (the common tests)


@pytest.fixture(scope='module')
def backbone():
  return 'pointnet_tnet', dict(widths=(8, 16, 32), tnet_fc=(16, 8), head=(16, 8)), True


def test_the_input_transform_starts_near_the_identity_and_features_are_pointwise():
  net = pointnet_tnet.make(4, widths=(8, 16, 32), tnet_fc=(16, 8), head=(16, 8))
  points = jax.random.normal(jax.random.key(0), (2, 10, 3))
  variables = jax.jit(net.init)({'params': jax.random.key(1)}, points)
  pointwise, pooled = jax.jit(lambda v, x: net.apply(v, x, method=net.features))(variables,
                                                                                 points)
  assert pointwise.shape == (2, 10, 32) and jnp.allclose(pooled, pointwise.max(axis=1))


@pytest.mark.slow
def test_full_size_parameter_count():
  net = pointnet_tnet.make(40)
  variables = net.init({'params': jax.random.key(0)}, jnp.zeros((2, 16, 3)))
  logits = jax.jit(net.apply)(variables, jax.random.normal(jax.random.key(2), (2, 1024, 3)))
  assert logits.shape == (2, 40)
  # fxia22/pointnet.pytorch PointNetCls(k=40, feature_transform=False), counted by hand
  # from its layer list: T-Net 799,113 + its BatchNorm 3,968; trunk 140,672 + 2,432; head
  # 666,408 + 1,536: 1,614,129 (the ~3.5 M usually quoted includes the 64x64 feature
  # T-Net, off in both references). BatchNorm running statistics are not parameters.
  assert sum(x.size for x in jax.tree.leaves(variables['params'])) == 1_614_129
