"""DGCNN: the common backbone suite on a tiny configuration, and the full-size network."""

import jax
import pytest

from dd3d_jax.models import dgcnn
from tests.models.backbone_suite import *  # noqa: F401,F403  (the common tests)


@pytest.fixture(scope='module')
def backbone():
  # k = 16: every neighbourhood of the suite's 16-point clouds is the whole cloud; two
  # EdgeConvs, so the second graph is built in feature space.
  return 'dgcnn', dict(k=16, edge_widths=(8, 8), emb_dims=16, head_widths=(16, 8)), True


@pytest.mark.slow
def test_full_size_logits_and_parameter_count():
  net = dgcnn.make(40)
  points = jax.random.normal(jax.random.key(0), (2, 1024, 3))
  variables = net.init({'params': jax.random.key(1), 'dropout': jax.random.key(2)}, points)
  assert net.apply(variables, points).shape == (2, 40)
  # Counted by hand from the layer list of WangYueFt/dgcnn pytorch/model.py (BatchNorm
  # scale and bias included, running statistics not): 1,809,576; the paper reports 1.8 M.
  assert sum(p.size for p in jax.tree.leaves(variables['params'])) == 1_809_576
