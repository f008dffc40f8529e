"""PointMLP-elite: the common backbone suite on a tiny version, and the full-size network."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dd3d_jax.models import pointmlp
from tests.models.backbone_suite import *  # noqa: F401,F403  (the common tests)


@pytest.fixture(scope='module')
def backbone():
  # One stage (the slow test runs all four): 8 FPS anchors, which start at point 0, and
  # 24 neighbours, more than the suite's 16 points, so that every neighbourhood holds the
  # whole cloud plus copies of its anchor and the output cannot depend on the point order.
  return 'pointmlp', dict(embed_dim=8, anchors=(8,), neighbours=(24,), dim_expansion=(2,),
                          pre_blocks=(1,), pos_blocks=(1,), head_widths=(16, 16)), True


def test_eval_logits_do_not_depend_on_the_rest_of_the_batch(net):
  # The reference's fixed std (commit abc9176) is per cloud, not over the batch.
  a, _ = net.apply(net.variables, net.points, False, None)
  b, _ = net.apply(net.variables, net.points.at[2:].set(net.points[:2] * 2), False, None)
  np.testing.assert_allclose(a[:2], b[:2], rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_full_size_elite():
  net = pointmlp.make(40)
  variables = net.init({'params': jax.random.key(0), 'dropout': jax.random.key(1)},
                       jnp.zeros((2, 16, 3)), train=False)
  points = jax.random.normal(jax.random.key(2), (2, 1024, 3))
  logits = jax.jit(net.apply)(variables, points)
  assert logits.shape == (2, 40) and jnp.isfinite(logits).all()
  # The released pointMLPElite has 716,232 parameters for 40 classes (counted by hand:
  # embedding 160, stages 8,704 + 33,792 + 199,936 + 198,912, head 274,728). The paper's
  # Table 1 says 0.68M; the same code in its full configuration (pointMLP) gives 13,238,504
  # against the paper's 12.6M: both published counts are about 5% below the released code,
  # so they were not counted on it (its layer list is the one followed here).
  assert sum(x.size for x in jax.tree.leaves(variables['params'])) == 716_232
