"""The common backbone suite on PointNeXt, and the full-size PointNeXt-S."""

import jax
import jax.numpy as jnp
import pytest

from dd3d_jax.models import Network, pointnext
from tests.models.backbone_suite import *  # noqa: F401,F403  (the common tests)


@pytest.fixture(scope='module')
def backbone():
  # stem, one downsampling stage (8 centres) with an InvResMLP block (PointNeXt-S has
  # none), global stage; 16-point neighbourhoods
  return 'pointnext', dict(width=8, blocks=(1, 2, 1), strides=(1, 2, 1), radius=0.5,
                           num_neighbours=16, expansion=2, head=(16,)), True


@pytest.mark.slow
def test_full_size_network():
  network = Network(pointnext.make(40))
  variables = network.init(jax.random.key(0))
  points = jax.random.uniform(jax.random.key(1), (2, 1024, 3), minval=-1.0, maxval=1.0)
  logits, _ = network.apply(variables, points)
  assert logits.shape == (2, 40) and jnp.isfinite(logits).all()
  # 1,373,512; the released config (cfgs/modelnet40ply2048/pointnext-s.yaml) reports
  # 1.374 M, the PointNeXt paper 1.4 M.
  assert sum(p.size for p in jax.tree.leaves(variables['params'])) == 1_373_512
