"""3DDP's method: the storage rule, its start from aligned real chunks, its steps and its
one-line refusal. Export, storage accounting and exact resume are in the common suite."""

import itertools

import jax
import numpy as np
import pytest

from dd3d_jax import config as config_lib
from dd3d_jax.errors import ConfigError
from dd3d_jax.methods import _matching, tddp
from tests.methods.test_methods import build, tiny_setup


def test_storage_rule_gives_the_reference_resolutions():
  assert tddp.chunk_points(1024, 4, 4) == 255    # ModelNet40, ShapeNet, ScanObjectNN
  assert tddp.chunk_points(1024, 4, 16) == 252   # ModelNet10
  assert tddp.chunk_points(256, 4, 16) == 60     # the CPU budget's 256 points


def test_alignment_is_the_cheapest_matching():
  rng = np.random.default_rng(0)
  chunks = rng.normal(size=(3, 5, 3))
  aligned = tddp.align_to_first(chunks)
  np.testing.assert_array_equal(aligned[0], chunks[0].astype(np.float32))
  for got, c in zip(aligned[1:], chunks[1:]):
    cost = lambda perm: np.linalg.norm(chunks[0] - c[list(perm)], axis=-1).sum()  # noqa: E731
    best = min(itertools.permutations(range(5)), key=cost)
    np.testing.assert_allclose(got, c[list(best)], rtol=1e-6)


def test_anchors_are_the_random_coresets_clouds_cut_by_fps_and_aligned():
  method, context, real = build('tddp')
  key = jax.random.key(3)
  state = method.init(key, real)
  s, p = method.chunks, method.chunk_points
  clouds = _matching.real_clouds(key, context, context.dataset.train.points.shape[1],
                                 per_class=context.cpc * s)
  np.testing.assert_allclose(state.gen_params['anchors'], tddp.anchors_from(clouds, s, p))
  assert state.gen_params['anchors'].shape == (context.dataset.num_classes * context.cpc, s, p, 3)
  # chunk 0 of each anchor is its first real cloud's first p FPS points
  first = np.asarray(state.gen_params['anchors'])[:, 0]
  for anchor, cloud in zip(first, clouds[::s]):
    assert all((cloud == q).all(-1).any() for q in anchor)


def test_too_many_morphs_for_the_budget_is_one_line():
  c, _, _ = tiny_setup()
  c = c.copy_and_resolve_references()
  c.methods.tddp.update(chunks=4, morphs=40)
  c.eval.methods = 'tddp'
  with pytest.raises(ConfigError, match=r'methods\.tddp: 4 chunks and 40 morphs leave 0 points'):
    config_lib.validate(c)
