"""The common backbone suite on PointNet++ SSG, and the full-size network."""

import jax
import jax.numpy as jnp
import pytest

from dd3d_jax.models import Network, pointnet2
from tests.models.backbone_suite import *  # noqa: F401,F403  (the common tests)


@pytest.fixture(scope='module')
def backbone():
  # two sampled set abstractions (8 and 4 centres) whose 16-point neighbourhoods hold
  # every point of a 16-point cloud within reach, narrow MLPs, the paper's dropout
  return 'pointnet2', dict(centres=(8, 4), radii=(0.4, 0.8), neighbours=(16, 16),
                           mlps=((8, 16), (16,), (32,)), head=(16,)), True


@pytest.mark.slow
def test_full_size_network():
  network = Network(pointnet2.make(40))
  variables = network.init(jax.random.key(0))
  points = jax.random.uniform(jax.random.key(1), (2, 1024, 3), minval=-1.0, maxval=1.0)
  logits, _ = network.apply(variables, points)
  assert logits.shape == (2, 40) and jnp.isfinite(logits).all()
  # 1,475,688 as the authors' TensorFlow code and the yanx27 PyTorch port (conv and fc
  # biases, BatchNorm scale and shift): the ~1.48 M usually quoted for PointNet++ SSG.
  assert sum(p.size for p in jax.tree.leaves(variables['params'])) == 1_475_688
