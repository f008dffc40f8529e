"""Set renders: colours by part (per-class picture, projections, overview) and by depth."""

from __future__ import annotations

import os

import matplotlib
import numpy as np
import pytest

from dd3d_jax import render

FIRST, SECOND = (np.asarray(matplotlib.colormaps['tab10'](i)) for i in range(2))


def test_part_colors_start_each_class_at_the_first_colour_and_keep_parts_apart():
  chair = np.array([[12, 13, 14, 12], [14, 14, 13, 12]])
  lamp = np.array([[40, 47, 40, 47], [47, 47, 47, 47]])
  colors = {'chair': render.part_colors(chair), 'lamp': render.part_colors(lamp)}
  assert colors['chair'].shape == (2, 4, 4)
  np.testing.assert_array_equal(colors['chair'][0, 0], FIRST)  # part 12: its lowest id
  np.testing.assert_array_equal(colors['lamp'][0, 0], FIRST)   # part 40
  np.testing.assert_array_equal(colors['lamp'][0, 1], SECOND)  # part 47
  for parts, rgba in ((chair, colors['chair']), (lamp, colors['lamp'])):
    by_part = {}
    for part, color in zip(parts.ravel(), rgba.reshape(-1, 4)):
      np.testing.assert_array_equal(by_part.setdefault(part, color), color)  # every cloud
    assert len({tuple(c) for c in by_part.values()}) == len(by_part)


def test_part_colors_cycle_past_the_map():
  rgba = render.part_colors(np.arange(100, 111)[None])  # 11 parts, tab10 has 10 colours
  np.testing.assert_array_equal(rgba[0, 10], rgba[0, 0])
  assert len({tuple(c) for c in rgba[0, :10]}) == 10


def _record_saves(monkeypatch) -> list[tuple[str, dict]]:
  """Records, for every picture saved, its path and what its figure draws; still saves."""
  saved, save = [], render._save

  def record(fig, path):
    axes = [ax for ax in fig.axes if ax.collections]
    saved.append((path, {
        'title': fig.get_suptitle(),
        '3d': [ax.collections[0] for ax in axes if ax.name == '3d'],
        '2d': [ax.collections[0].get_facecolors() for ax in axes if ax.name != '3d']}))
    save(fig, path)

  monkeypatch.setattr(render, '_save', record)
  return saved


@pytest.fixture
def clouds():
  """Three clouds of class 0 (parts 12 and 13 by the sign of z) and two of class 1 (parts
  40 and 41); labels [5]; points [5, 64, 3]; parts [5, 64]."""
  points = np.random.default_rng(0).uniform(-0.9, 0.9, (5, 64, 3))
  labels = np.array([0, 1, 0, 1, 0])
  parts = (points[..., 2] > 0) + np.where(labels == 0, 12, 40)[:, None]
  return points, labels, parts


def test_render_set_colours_points_by_part(tmp_path, monkeypatch, clouds):
  points, labels, parts = clouds
  saved = _record_saves(monkeypatch)
  paths = render.render_set(str(tmp_path), points, labels, ['chair', 'lamp'], parts)
  assert [p for p, _ in saved] == paths[1:] + paths[:1]  # overview.png last
  assert os.path.basename(paths[0]) == 'overview.png'
  assert all(os.path.getsize(p) > 0 for p in paths)
  (_, chair), (_, lamp), (_, overview) = saved
  assert chair['title'] == 'chair: parts 12,13' and lamp['title'] == 'lamp: parts 40,41'
  assert len(chair['2d']) == 3 * 3 and len(lamp['2d']) == 3 * 2
  for i, c in enumerate(np.flatnonzero(labels == 0)):  # class 0's clouds in order
    for facecolors in chair['2d'][3 * i:3 * i + 3]:
      np.testing.assert_array_equal(facecolors, np.where((parts[c] == 13)[:, None], SECOND,
                                                         FIRST))
  for drawn in chair['3d'] + lamp['3d'] + overview['3d']:
    assert drawn.get_array() is None  # RGBA colours, no depth colormap
    rgb = {tuple(c) for c in drawn.get_facecolors()[:, :3]}  # 3-D shading changes alpha only
    assert rgb == {tuple(FIRST[:3]), tuple(SECOND[:3])}


def test_render_set_without_parts_colours_by_depth_with_black_projections(tmp_path, monkeypatch,
                                                                          clouds):
  points, labels, _ = clouds
  saved = _record_saves(monkeypatch)
  paths = render.render_set(str(tmp_path), points, labels, ['chair', 'lamp'])
  assert [p for p, _ in saved] == paths[1:] + paths[:1]
  (_, chair), _, (_, overview) = saved
  assert chair['title'] == ''
  for facecolors in chair['2d']:
    np.testing.assert_array_equal(facecolors, [[0, 0, 0, 1]])
  np.testing.assert_allclose(np.sort(overview['3d'][1].get_array()),
                             np.sort(points[1, :, 0] - points[1, :, 1]))  # lamp's first cloud
