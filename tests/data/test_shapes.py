"""Properties of dd3d_jax.data.shapes: determinism, layout, parts, surfaces, density."""

import numpy as np
import pytest

from dd3d_jax.data import dataset, shapes

SPHERE, CYLINDER, TORUS = (shapes.CLASS_NAMES.index(n) for n in ('sphere', 'cylinder', 'torus'))


@pytest.fixture(scope='module')
def small():
  return shapes.make_shapes(num_train_per_class=6, num_test_per_class=3, num_points=256, seed=0)


def test_part_tables_are_consistent():
  k = len(shapes.CLASS_NAMES)
  assert k >= 10 and len(set(shapes.CLASS_NAMES)) == k
  assert len(shapes.PART_COUNTS) == len(shapes.PART_OFFSETS) == k
  assert all(2 <= c <= 4 for c in shapes.PART_COUNTS)
  np.testing.assert_array_equal(shapes.PART_OFFSETS, np.cumsum((0,) + shapes.PART_COUNTS[:-1]))
  assert shapes.NUM_PARTS == sum(shapes.PART_COUNTS) == len(shapes.PART_NAMES)


def test_the_second_family_is_other_classes_with_every_part_sampled():
  names, counts, offsets, part_names = shapes.family_layout('tools')
  assert len(names) >= 10 and not set(names) & set(shapes.CLASS_NAMES)
  assert all(2 <= c <= 4 for c in counts) and len(part_names) == sum(counts)
  tools = shapes.make_shapes(4, 2, 128, seed=0, family='tools')
  assert tools.name == 'shapes_tools' and tools.class_names == names
  assert dataset.validate(tools) is tools and tools.num_parts == sum(counts)
  for split in (tools.train, tools.test):
    first = np.asarray(offsets)[split.labels][:, None]
    assert np.all((split.parts >= first)
                  & (split.parts < first + np.asarray(counts)[split.labels][:, None]))
    assert np.all(np.isfinite(split.points))
  np.testing.assert_array_equal(np.unique(tools.train.parts), np.arange(sum(counts)))
  with pytest.raises(ValueError, match="family 'toys' is unknown"):
    shapes.make_shapes(1, 1, 16, family='toys')


def test_layout_dtypes_and_validation(small):
  k = len(shapes.CLASS_NAMES)
  assert dataset.validate(small) is small
  assert small.name == 'shapes' and small.source == 'procedural (seed=0)'
  assert small.class_names == shapes.CLASS_NAMES and small.num_parts == shapes.NUM_PARTS
  assert set(small.splits) == {'train', 'test'}
  for split, per_class in ((small.train, 6), (small.test, 3)):
    assert split.points.shape == (k * per_class, 256, 3) and split.points.dtype == np.float32
    assert split.labels.shape == (k * per_class,) and split.labels.dtype == np.int32
    assert split.parts.shape == (k * per_class, 256) and split.parts.dtype == np.int32
    np.testing.assert_array_equal(np.bincount(split.labels, minlength=k), per_class)
    assert np.all(np.isfinite(split.points))
    np.testing.assert_allclose(split.points.mean(axis=1), 0, atol=1e-5)
    radius = np.linalg.norm(split.points, axis=-1).max(axis=1)
    assert np.all(radius < 1) and np.all(radius > 0.99)
  # Shuffled: the labels are not in class-sorted order.
  assert np.any(np.diff(small.train.labels) < 0)


def test_deterministic_by_seed(small):
  same = shapes.make_shapes(6, 3, 256, seed=0)
  other = shapes.make_shapes(6, 3, 256, seed=1)
  for name in ('train', 'test'):
    a, b, c = small.splits[name], same.splits[name], other.splits[name]
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.parts, b.parts)
    assert not np.allclose(a.points, c.points)
  # Train and test are independent streams, not the same clouds.
  assert not np.allclose(small.train.points[:3], small.test.points[:3])


def test_parts_stay_in_class_range_and_all_appear(small):
  offsets = np.asarray(shapes.PART_OFFSETS)[small.train.labels][:, None]
  counts = np.asarray(shapes.PART_COUNTS)[small.train.labels][:, None]
  parts = small.train.parts
  assert np.all(parts >= offsets) and np.all(parts < offsets + counts)
  np.testing.assert_array_equal(np.unique(parts), np.arange(shapes.NUM_PARTS))


def test_sample_shape_outputs():
  rng = np.random.default_rng(0)
  for c in range(len(shapes.CLASS_NAMES)):
    for n in (1, 100):
      pts, parts = shapes.sample_shape(rng, c, n)
      assert pts.shape == (n, 3) and pts.dtype == np.float32
      assert parts.shape == (n,) and parts.dtype == np.int32
      assert np.all(np.isfinite(pts))


def test_sphere_points_lie_on_the_sphere_uniformly():
  pts, parts = shapes.sample_shape(np.random.default_rng(0), SPHERE, 20000)
  r = np.linalg.norm(pts, axis=-1)
  assert 0.5 <= np.median(r) <= 1.0
  assert np.abs(r - np.median(r)).max() < 0.03  # jitter sigma 0.005
  assert abs(np.mean(pts[:, 2] > 0) - 0.5) < 0.02
  upper = parts == shapes.PART_OFFSETS[SPHERE]
  assert np.all(pts[upper, 2] > -0.03) and np.all(pts[~upper, 2] < 0.03)
  # Uniform on a sphere: z is uniform in (-r, r) (Archimedes).
  hist = np.histogram(pts[:, 2] / np.median(r), bins=4, range=(-1, 1))[0] / len(pts)
  np.testing.assert_allclose(hist, 0.25, atol=0.02)


def test_cylinder_points_lie_on_side_and_caps_with_area_weights():
  pts, parts = shapes.sample_shape(np.random.default_rng(1), CYLINDER, 20000)
  side = parts == shapes.PART_OFFSETS[CYLINDER]
  rho = np.linalg.norm(pts[:, :2], axis=-1)
  r = np.median(rho[side])
  assert np.abs(rho[side] - r).max() < 0.03
  assert np.all(rho[~side] < r + 0.03)
  caps = pts[~side, 2]
  low = caps < pts[:, 2].mean()
  z0, z1 = np.median(caps[low]), np.median(caps[~low])
  h = z1 - z0
  assert np.all(np.minimum(np.abs(caps - z0), np.abs(caps - z1)) < 0.03)
  # Uniform density over the object: the side gets its share of the area, h / (h + r).
  assert abs(side.mean() - h / (h + r)) < 0.02
  hist = np.histogram(pts[side, 2], bins=4, range=(z0, z1))[0] / side.sum()
  np.testing.assert_allclose(hist, 0.25, atol=0.02)


def test_torus_points_lie_on_the_torus():
  pts, parts = shapes.sample_shape(np.random.default_rng(2), TORUS, 20000)
  rho = np.linalg.norm(pts[:, :2], axis=-1)
  outer = parts == shapes.PART_OFFSETS[TORUS]
  big = (rho.max() + rho.min()) / 2
  tube = np.hypot(rho - big, pts[:, 2])
  assert np.abs(tube - np.median(tube)).max() < 0.04
  assert np.all(rho[outer] > big - 0.03) and np.all(rho[~outer] < big + 0.03)


def test_frustum_and_torus_primitives_are_area_uniform():
  rng = np.random.default_rng(3)
  # A cone of base radius 1: the lower half of its height holds 3/4 of its area.
  area, sample = shapes._tube((0, 0, 0), 1.0, 0.0, 2.0)
  np.testing.assert_allclose(area, np.pi * np.sqrt(5))
  assert abs(np.mean(sample(rng, 40000)[:, 2] < 1.0) - 0.75) < 0.01
  # A torus: the outer half (rho > R) holds (pi R + 2 r) / (2 pi R) of the area.
  big, small = 1.0, 0.5
  area, sample = shapes._torus((0, 0, 0), big, small)
  np.testing.assert_allclose(area, 4 * np.pi ** 2 * big * small)
  rho = np.linalg.norm(sample(rng, 40000)[:, :2], axis=-1)
  assert abs(np.mean(rho > big) - (np.pi * big + 2 * small) / (2 * np.pi * big)) < 0.01


def test_ellipsoid_primitive_is_area_uniform():
  # A prolate spheroid (1, 1, 3): compare the z-histogram with a numerical integral of
  # the area density 2 pi rho(z) sqrt(1 + rho'(z)^2) dz, rho = sqrt(1 - z^2 / 9).
  area, sample = shapes._ellipsoid((0, 0, 0), (1.0, 1.0, 3.0))
  z = np.linspace(-3, 3, 200001)[1:-1]
  density = 2 * np.pi * np.sqrt(1 - z ** 2 / 9 + z ** 2 / 81)  # rho * sqrt(1 + rho'^2)
  exact_area = density.sum() * (z[1] - z[0])
  np.testing.assert_allclose(area, exact_area, rtol=0.01)
  edges = np.linspace(-3, 3, 7)
  expected = np.array([density[(z >= a) & (z < b)].sum() for a, b in zip(edges, edges[1:])])
  got = np.histogram(sample(np.random.default_rng(4), 40000)[:, 2], bins=edges)[0]
  np.testing.assert_allclose(got / got.sum(), expected / expected.sum(), atol=0.01)


def test_instances_of_a_class_vary():
  rng = np.random.default_rng(5)
  for c in range(len(shapes.CLASS_NAMES)):
    extents = np.stack([np.ptp(shapes.sample_shape(rng, c, 512)[0], axis=0) for _ in range(6)])
    assert extents.std(axis=0).max() > 0.03, shapes.CLASS_NAMES[c]
    if c != SPHERE:  # proportions vary too, not only the size
      ratios = extents / extents.max(axis=1, keepdims=True)
      assert ratios.std(axis=0).max() > 0.03, shapes.CLASS_NAMES[c]


def test_rotation_about_z_is_bounded():
  # A table's top is a horizontal slab whatever the yaw: its z spread stays thin.
  rng = np.random.default_rng(6)
  table = shapes.CLASS_NAMES.index('table')
  for _ in range(5):
    pts, parts = shapes.sample_shape(rng, table, 2000)
    top = pts[parts == shapes.PART_OFFSETS[table]]
    assert np.ptp(top[:, 2]) < 0.12


def test_bad_class_id_raises():
  with pytest.raises(ValueError, match='outside'):
    shapes.sample_shape(np.random.default_rng(0), len(shapes.CLASS_NAMES), 10)


def test_crop_is_a_partial_view_of_the_cloud():
  rng = np.random.default_rng(0)
  points, parts = shapes.sample_shape(rng, 0, 600)
  kept, kept_parts = shapes.crop(np.random.default_rng(1), points, parts, 256, max_crop=0.5)
  assert kept.shape == (256, 3) and kept_parts.shape == (256,)
  index = {tuple(p): q for p, q in zip(points, parts)}
  assert all(index[tuple(p)] == q for p, q in zip(kept, kept_parts))  # a subset, labels kept
  # The cut is a half-space: the normal is crop's first draw from its rng, and a
  # share of the surface lies entirely beyond every kept point.
  normal = np.random.default_rng(1).normal(size=3)
  height = points @ (normal / np.linalg.norm(normal))
  beyond = height > (kept @ (normal / np.linalg.norm(normal))).max()
  assert 0.0 < beyond.mean() <= 0.5


def test_cropped_dataset_is_valid_deterministic_and_partial():
  whole = shapes.make_shapes(4, 2, 128, seed=0)
  partial = shapes.make_shapes(4, 2, 128, seed=0, max_crop=0.5)
  again = shapes.make_shapes(4, 2, 128, seed=0, max_crop=0.5)
  np.testing.assert_array_equal(partial.train.points, again.train.points)
  assert partial.train.points.shape == whole.train.points.shape
  assert not np.allclose(partial.train.points, whole.train.points)
  with pytest.raises(ValueError, match='max_crop must be in'):
    shapes.make_shapes(1, 1, 16, max_crop=1.0)
