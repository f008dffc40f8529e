"""PCT: the common backbone suite on a tiny configuration, and the full-size network."""

import jax
import pytest

from dd3d_jax.models import pct
from tests.models.backbone_suite import *  # noqa: F401,F403  (the common tests)


@pytest.fixture(scope='module')
def backbone():
  # 16 neighbours: every neighbourhood of the suite's 16-point clouds is the whole cloud.
  return 'pct', dict(centres=(8, 4), neighbours=16, width=4, attention_layers=2, emb_dims=16,
                     head_widths=(16, 8)), True


@pytest.mark.slow
def test_full_size_logits_and_parameter_count():
  net = pct.make(40)
  points = jax.random.normal(jax.random.key(0), (2, 1024, 3))
  variables = net.init({'params': jax.random.key(1), 'dropout': jax.random.key(2)}, points)
  assert net.apply(variables, points).shape == (2, 40)
  # Counted by hand from the layer list of Strawberry-Eat-Mango/PCT_Pytorch model.py
  # (BatchNorm scale and bias included, the tied query/key projection once, as PyTorch's
  # parameters() counts it): 2,876,136; the paper reports 2.88 M.
  assert sum(p.size for p in jax.tree.leaves(variables['params'])) == 2_876_136
