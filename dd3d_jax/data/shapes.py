"""A procedural 3D-shapes dataset: the embedded default, no download needed.

Twelve classes of parametric objects (primitives, furniture, vessels, an airplane),
each an assembly of surface primitives: boxes, disks, frustum shells, ellipsoids
and torus segments. Points are sampled on the surfaces with density uniform over
the whole object: the point budget is split multinomially by primitive area, and
curved primitives are sampled with area-exact inverse CDFs or rejection.

Instances vary in dimensions and proportions, are rotated about the vertical (z)
axis by up to +-20 degrees and jittered per point, but stay upright in one
canonical frame, like ModelNet. Like real scans (ScanObjectNN), each cloud of the
dataset can be a partial view: a random plane cuts away up to `max_crop` of the
surface, so one example alone shows only part of its class. Every class has 2-3 labelled parts with global part
ids, ShapeNet-part style: class c owns ids `PART_OFFSETS[c] ... + PART_COUNTS[c] - 1`.

A second family (`family='tools'`: stool, mushroom, hammer, umbrella, snowman, dumbbell,
rocket, shelf, sofa, vase; 2-3 parts each, 26 part ids) is built from the same primitives,
so that a finding on the first can be checked on shapes it was not made on
(`family_layout(family)` gives its names and part ids).

A primitive is `(local_part, area, sample)` with `sample(rng, n) -> [n, 3]`.
"""

from __future__ import annotations

import numpy as np

from dd3d_jax.data.dataset import PointCloudDataset, Split, validate

MAX_ANGLE = np.deg2rad(20.0)  # rotation about z, uniform in +-MAX_ANGLE
JITTER_SIGMA = 0.005          # per-point Gaussian noise, in object units (~1)


# ----------------------------------------------------------------------------- primitives

def _box(center, size, faces=range(6)):
  """Surface of an axis-aligned box; `faces` picks among 2*axis + (0: -, 1: +)."""
  center, size = np.asarray(center, float), np.asarray(size, float)
  faces = np.asarray(list(faces))
  face_area = np.prod(size) / size[faces // 2]
  area = face_area.sum()

  def sample(rng, n):
    face = faces[rng.choice(len(faces), n, p=face_area / area)]
    u = rng.uniform(-0.5, 0.5, (n, 3))
    u[np.arange(n), face // 2] = np.where(face % 2, 0.5, -0.5)
    return center + u * size
  return area, sample


def _disk(center, r_out, r_in=0.0):
  """Horizontal annulus (z = center z) with radii r_in < r_out."""
  area = np.pi * (r_out ** 2 - r_in ** 2)

  def sample(rng, n):
    r = np.sqrt(rng.uniform(r_in ** 2, r_out ** 2, n))
    t = rng.uniform(0, 2 * np.pi, n)
    return np.asarray(center) + np.stack([r * np.cos(t), r * np.sin(t), 0 * r], -1)
  return area, sample


def _tube(center, r0, r1, height):
  """Open frustum shell about the z axis from radius r0 at z=center z up to r1 at +height."""
  area = np.pi * (r0 + r1) * np.hypot(height, r1 - r0)

  def sample(rng, n):
    u = rng.uniform(0, 1, n)  # the area element is proportional to r dr: r^2 is uniform
    t = u if abs(r1 - r0) < 1e-9 else (np.sqrt(r0**2 + u * (r1**2 - r0**2)) - r0) / (r1 - r0)
    r, a = r0 + (r1 - r0) * t, rng.uniform(0, 2 * np.pi, n)
    return np.asarray(center) + np.stack([r * np.cos(a), r * np.sin(a), t * height], -1)
  return area, sample


def _rejection(rng, n, draw):
  """n samples from `draw(rng, m) -> (candidates [m, 3], accept_prob [m])`."""
  out, have = [np.zeros((0, 3))], 0
  while have < n:
    cand, prob = draw(rng, 2 * (n - have) + 16)
    out.append(cand[rng.uniform(size=len(prob)) < prob])
    have += len(out[-1])
  return np.concatenate(out)[:n]


def _ellipsoid(center, axes, half=0):
  """Ellipsoid surface with semi-axes (a, b, c); half=+1/-1 keeps only z>0 / z<0."""
  axes = np.asarray(axes, float)
  p = 1.6075  # Thomsen's approximation of the area, within ~1%
  ap = axes ** p
  area = 4 * np.pi * ((ap[0] * ap[1] + ap[0] * ap[2] + ap[1] * ap[2]) / 3) ** (1 / p)

  def draw(rng, m):
    # Map the unit sphere by diag(axes); its area element scales with |x / axes|.
    x = rng.normal(size=(m, 3))
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    if half:
      x[:, 2] = half * np.abs(x[:, 2])
    return center + x * axes, np.linalg.norm(x / axes, axis=-1) * axes.min()
  return area / (2 if half else 1), lambda rng, n: _rejection(rng, n, draw)


def _torus(center, major, minor, theta=(0, 2 * np.pi), phi=(0, 2 * np.pi), upright=False):
  """Torus patch about the z axis (about y if `upright`); angles: ring theta, tube phi."""
  (t0, t1), (p0, p1) = theta, phi
  area = (t1 - t0) * minor * (major * (p1 - p0) + minor * (np.sin(p1) - np.sin(p0)))

  def draw(rng, m):
    t, f = rng.uniform(t0, t1, m), rng.uniform(p0, p1, m)
    ring = major + minor * np.cos(f)
    x = np.stack([ring * np.cos(t), ring * np.sin(t), minor * np.sin(f)], -1)
    return center + (x[:, [0, 2, 1]] if upright else x), ring / (major + minor)
  return area, lambda rng, n: _rejection(rng, n, draw)


def _swept(primitive, sweep):
  """Shears x by -sweep * |y| (swept wings). The area of the large top and bottom faces
  is unchanged; only the thin leading and trailing edges stretch, by hypot(1, sweep)."""
  area, sample = primitive

  def sheared(rng, n):
    p = sample(rng, n)
    p[:, 0] -= sweep * np.abs(p[:, 1])
    return p
  return area, sheared


def _legs(xy, height, thick):
  """Four vertical box legs of the given height, centred at (+-x, +-y)."""
  return [_box((sx * xy[0], sy * xy[1], height / 2), (thick, thick, height))
          for sx in (-1, 1) for sy in (-1, 1)]


# ----------------------------------------------------------------------------- classes
# Each builder draws one instance's parameters: rng -> [(local_part, area, sample)].

def _sphere(rng):
  r = rng.uniform(0.5, 1.0)
  return [(0, *_ellipsoid((0, 0, 0), (r, r, r), +1)), (1, *_ellipsoid((0, 0, 0), (r, r, r), -1))]


def _box_shape(rng):
  s = rng.uniform(0.2, 1.2, 3)
  c = (0, 0, s[2] / 2)
  return [(0, *_box(c, s, (0, 1, 2, 3))), (1, *_box(c, s, (4, 5)))]


def _cylinder(rng):
  r, h = rng.uniform(0.2, 0.6), rng.uniform(0.3, 1.8)
  return [(0, *_tube((0, 0, 0), r, r, h)), (1, *_disk((0, 0, 0), r)), (1, *_disk((0, 0, h), r))]


def _cone(rng):
  r, h = rng.uniform(0.3, 0.7), rng.uniform(0.5, 1.5)
  top = r * rng.uniform(0, 0.5) * (rng.uniform() < 0.5)  # truncated half the time
  return [(0, *_tube((0, 0, 0), r, top, h)), (0, *_disk((0, 0, h), top)),
          (1, *_disk((0, 0, 0), r))]


def _torus_shape(rng):
  big = rng.uniform(0.5, 0.8)
  small = big * rng.uniform(0.15, 0.45)
  out, inn = (-np.pi / 2, np.pi / 2), (np.pi / 2, 3 * np.pi / 2)
  return [(0, *_torus((0, 0, 0), big, small, phi=out)),
          (1, *_torus((0, 0, 0), big, small, phi=inn))]


def _table(rng):
  h, t, leg = rng.uniform(0.35, 1.0), rng.uniform(0.03, 0.08), rng.uniform(0.04, 0.1)
  if rng.uniform() < 0.3:  # round top
    r = rng.uniform(0.4, 0.7)
    top = [_disk((0, 0, h), r), _disk((0, 0, h - t), r), _tube((0, 0, h - t), r, r, t)]
    xy = np.full(2, (r - leg) / np.sqrt(2) * rng.uniform(0.6, 0.95))
  else:
    size = np.array([rng.uniform(0.7, 1.6), rng.uniform(0.5, 1.0)])
    top = [_box((0, 0, h - t / 2), (*size, t))]
    xy = size / 2 - leg / 2 - rng.uniform(0, 0.1)
  return [(0, *p) for p in top] + [(1, *p) for p in _legs(xy, h - t, leg)]


def _chair(rng):
  w, d = rng.uniform(0.35, 0.65, 2)
  h, t, leg = rng.uniform(0.3, 0.55), rng.uniform(0.03, 0.08), rng.uniform(0.03, 0.07)
  bh, bt = rng.uniform(0.15, 0.7), rng.uniform(0.03, 0.06)
  return ([(0, *_box((0, 0, h - t / 2), (w, d, t)))]
          + [(1, *_box((0, -d / 2 + bt / 2, h + bh / 2), (w, bt, bh)))]
          + [(2, *p) for p in _legs((w / 2 - leg / 2, d / 2 - leg / 2), h - t, leg)])


def _bed(rng):
  w, length = rng.uniform(0.9, 1.6), rng.uniform(1.6, 2.2)
  lh, base = rng.uniform(0.03, 0.3), rng.uniform(0.1, 0.4)
  hb, bt, leg = rng.uniform(0.15, 0.8), rng.uniform(0.04, 0.08), rng.uniform(0.06, 0.12)
  top = lh + base
  prims = [(0, *_box((0, 0, lh + base / 2), (w, length, base))),
           (1, *_box((0, -length / 2 - bt / 2, (top + hb) / 2), (w, bt, top + hb)))]
  if rng.uniform() < 0.5:  # footboard
    fb = hb * rng.uniform(0.2, 0.6)
    prims.append((1, *_box((0, length / 2 + bt / 2, (top + fb) / 2), (w, bt, top + fb))))
  xy = (w / 2 - leg / 2, length / 2 - leg / 2)
  return prims + [(2, *p) for p in _legs(xy, lh, leg)]


def _lamp(rng):
  br, bt = rng.uniform(0.15, 0.3), rng.uniform(0.02, 0.06)
  sr, sh = rng.uniform(0.01, 0.03), rng.uniform(0.3, 1.0)
  r0, hh = rng.uniform(0.2, 0.4), rng.uniform(0.2, 0.4)
  r1, z = r0 * rng.uniform(0.4, 1.0), bt + sh - hh * rng.uniform(0.3, 0.6)
  return [(0, *_disk((0, 0, 0), br)), (0, *_disk((0, 0, bt), br, sr)),
          (0, *_tube((0, 0, 0), br, br, bt)), (1, *_tube((0, 0, bt), sr, sr, sh)),
          (2, *_tube((0, 0, z), r0, r1, hh))]


def _airplane(rng):
  half, r = rng.uniform(0.75, 1.1), rng.uniform(0.07, 0.13)
  span, chord, wt = rng.uniform(1.2, 2.0), rng.uniform(0.2, 0.4), rng.uniform(0.02, 0.04)
  sweep = np.tan(np.deg2rad(rng.uniform(0, 35)))
  wing = _box((rng.uniform(-0.15, 0.15), 0, 0), (chord, span, wt))
  tx = -half * 0.85
  stab = _box((tx, 0, 0), (rng.uniform(0.1, 0.2), span * rng.uniform(0.25, 0.4), wt))
  fh, fc = rng.uniform(0.2, 0.4), rng.uniform(0.15, 0.25)
  fin = _box((tx, 0, fh / 2), (fc, 0.02, fh))
  return [(0, *_ellipsoid((0, 0, 0), (half, r, r))), (1, *_swept(wing, sweep)),
          (2, *_swept(stab, sweep)), (2, *fin)]


def _mug(rng):
  r, h = rng.uniform(0.3, 0.45), rng.uniform(0.6, 1.1)
  hr, ht = h * rng.uniform(0.15, 0.35), rng.uniform(0.02, 0.06)
  handle = _torus((r, 0, h / 2), hr, ht, theta=(-np.pi / 2, np.pi / 2), upright=True)
  return [(0, *_tube((0, 0, 0), r, r, h)), (1, *_disk((0, 0, 0), r)), (2, *handle)]


def _bottle(rng):
  r, h = rng.uniform(0.2, 0.35), rng.uniform(0.4, 1.2)
  nr, sh, nh = r * rng.uniform(0.25, 0.6), rng.uniform(0.02, 0.3), rng.uniform(0.05, 0.35)
  return [(0, *_tube((0, 0, 0), r, r, h)), (0, *_disk((0, 0, 0), r)),
          (1, *_tube((0, 0, h), r, nr, sh)), (2, *_tube((0, 0, h + sh), nr, nr, nh))]


_CLASSES = (
    ('sphere', ('upper', 'lower'), _sphere),
    ('box', ('sides', 'top_bottom'), _box_shape),
    ('cylinder', ('side', 'caps'), _cylinder),
    ('cone', ('side', 'base'), _cone),
    ('torus', ('outer', 'inner'), _torus_shape),
    ('table', ('top', 'legs'), _table),
    ('chair', ('seat', 'back', 'legs'), _chair),
    ('bed', ('frame', 'boards', 'legs'), _bed),
    ('lamp', ('base', 'stem', 'shade'), _lamp),
    ('airplane', ('fuselage', 'wings', 'tail'), _airplane),
    ('mug', ('body', 'bottom', 'handle'), _mug),
    ('bottle', ('body', 'shoulder', 'neck'), _bottle),
)


def _stool(rng):
  r, h, t = rng.uniform(0.2, 0.4), rng.uniform(0.4, 0.9), rng.uniform(0.03, 0.08)
  leg = rng.uniform(0.03, 0.06)
  seat = [_disk((0, 0, h), r), _disk((0, 0, h - t), r), _tube((0, 0, h - t), r, r, t)]
  xy = np.full(2, (r - leg) / np.sqrt(2) * rng.uniform(0.6, 0.95))
  return [(0, *p) for p in seat] + [(1, *p) for p in _legs(xy, h - t, leg)]


def _mushroom(rng):
  cap, height = rng.uniform(0.4, 0.8), rng.uniform(0.2, 0.5)
  stem, h = cap * rng.uniform(0.15, 0.35), rng.uniform(0.3, 0.8)
  return [(0, *_ellipsoid((0, 0, h), (cap, cap, height), +1)),
          (0, *_disk((0, 0, h), cap, stem)), (1, *_tube((0, 0, 0), stem, stem, h))]


def _hammer(rng):
  h, r = rng.uniform(0.7, 1.3), rng.uniform(0.03, 0.06)
  size = (rng.uniform(0.4, 0.8), rng.uniform(0.1, 0.2), rng.uniform(0.1, 0.2))
  return [(0, *_box((0, 0, h + size[2] / 2), size)), (1, *_tube((0, 0, 0), r, r, h))]


def _umbrella(rng):
  r, h, rise = rng.uniform(0.5, 0.9), rng.uniform(0.8, 1.4), rng.uniform(0.1, 0.4)
  shaft, hook = rng.uniform(0.01, 0.03), rng.uniform(0.08, 0.15)
  return [(0, *_tube((0, 0, h - rise), r, 0.0, rise)), (1, *_tube((0, 0, 0), shaft, shaft, h)),
          (2, *_torus((hook, 0, 0), hook, shaft, theta=(np.pi, 2 * np.pi), upright=True))]


def _snowman(rng):
  r = np.sort(rng.uniform(0.2, 0.5, 3))[::-1] * np.array([1.0, 0.8, 0.65])
  z = np.cumsum([r[0], r[0] + r[1] * 0.9, r[1] * 0.9 + r[2] * 0.9])
  return [(i, *_ellipsoid((0, 0, z[i]), (r[i], r[i], r[i]))) for i in range(3)]


def _dumbbell(rng):
  length, bar = rng.uniform(0.6, 1.2), rng.uniform(0.03, 0.07)
  w = rng.uniform(0.12, 0.3)
  weights = [_ellipsoid((sx * length / 2, 0, 0), (w * rng.uniform(0.4, 0.8), w, w))
             for sx in (-1, 1)]
  return [(0, *_box((0, 0, 0), (length, 2 * bar, 2 * bar)))] + [(1, *p) for p in weights]


def _rocket(rng):
  r, h, nose = rng.uniform(0.1, 0.2), rng.uniform(0.8, 1.5), rng.uniform(0.2, 0.5)
  span, fh = rng.uniform(0.15, 0.3), rng.uniform(0.2, 0.4)
  fins = [_box((0, 0, fh / 2), (2 * (r + span), 0.02, fh)),
          _box((0, 0, fh / 2), (0.02, 2 * (r + span), fh))]
  return [(0, *_tube((0, 0, 0), r, r, h)), (0, *_disk((0, 0, 0), r)),
          (1, *_tube((0, 0, h), r, 0.0, nose)), *[(2, *p) for p in fins]]


def _shelf(rng):
  w, d, h = rng.uniform(0.5, 1.0), rng.uniform(0.2, 0.4), rng.uniform(0.8, 1.6)
  t, boards = rng.uniform(0.02, 0.05), int(rng.integers(3, 6))
  sides = [_box((sx * (w / 2 + t / 2), 0, h / 2), (t, d, h)) for sx in (-1, 1)]
  shelves = [_box((0, 0, z), (w, d, t)) for z in np.linspace(t / 2, h - t / 2, boards)]
  return [(0, *p) for p in sides] + [(1, *p) for p in shelves]


def _sofa(rng):
  w, d, sh = rng.uniform(1.2, 2.0), rng.uniform(0.6, 0.9), rng.uniform(0.3, 0.45)
  bh, bt, at = rng.uniform(0.3, 0.6), rng.uniform(0.1, 0.2), rng.uniform(0.1, 0.2)
  ah = sh + rng.uniform(0.05, 0.25)
  arms = [_box((sx * (w / 2 + at / 2), 0, ah / 2), (at, d, ah)) for sx in (-1, 1)]
  return [(0, *_box((0, 0, sh / 2), (w, d, sh))),
          (1, *_box((0, -d / 2 - bt / 2, (sh + bh) / 2), (w, bt, sh + bh))),
          *[(2, *p) for p in arms]]


def _vase(rng):
  r0, h = rng.uniform(0.15, 0.3), rng.uniform(0.6, 1.4)
  r1 = r0 * rng.uniform(1.2, 2.0)
  return [(0, *_tube((0, 0, 0), r0, r1, h)), (1, *_disk((0, 0, 0), r0)),
          (2, *_torus((0, 0, h), r1, rng.uniform(0.02, 0.05)))]


_TOOLS = (
    ('stool', ('seat', 'legs'), _stool),
    ('mushroom', ('cap', 'stem'), _mushroom),
    ('hammer', ('head', 'handle'), _hammer),
    ('umbrella', ('canopy', 'shaft', 'hook'), _umbrella),
    ('snowman', ('bottom', 'middle', 'head'), _snowman),
    ('dumbbell', ('bar', 'weights'), _dumbbell),
    ('rocket', ('body', 'nose', 'fins'), _rocket),
    ('shelf', ('sides', 'boards'), _shelf),
    ('sofa', ('seat', 'back', 'arms'), _sofa),
    ('vase', ('body', 'foot', 'rim'), _vase),
)
FAMILIES = {'objects': _CLASSES, 'tools': _TOOLS}


def family_layout(family: str = 'objects') -> tuple[tuple[str, ...], tuple[int, ...],
                                                    tuple[int, ...], tuple[str, ...]]:
  """A family's class names, part counts, first part ids and part names."""
  classes = FAMILIES[family]
  counts = tuple(len(parts) for _, parts, _ in classes)
  return (tuple(name for name, _, _ in classes), counts,
          tuple(int(o) for o in np.cumsum((0,) + counts[:-1])),
          tuple(f'{name}/{part}' for name, parts, _ in classes for part in parts))


CLASS_NAMES, PART_COUNTS, PART_OFFSETS, PART_NAMES = family_layout('objects')
NUM_PARTS = sum(PART_COUNTS)


# ----------------------------------------------------------------------------- sampling

def sample_shape(rng: np.random.Generator, class_id: int, num_points: int,
                 family: str = 'objects') -> tuple[np.ndarray, np.ndarray]:
  """One instance of a class, in object units (not normalised), points shuffled.

  Args:
    rng: the random stream; consumed.
    class_id: in [0, classes of the family).
    num_points: points to sample on the surface.
    family: 'objects' or 'tools' (`FAMILIES`).
  Returns:
    points: [num_points, 3] float32.
    parts: [num_points] int32 global part ids of the class.
  """
  classes = FAMILIES[family]
  if not 0 <= class_id < len(classes):
    raise ValueError(f'class_id {class_id} is outside the {len(classes)} shape classes.')
  prims = classes[class_id][2](rng)
  areas = np.array([area for _, area, _ in prims])
  counts = rng.multinomial(num_points, areas / areas.sum())
  points = np.concatenate([sample(rng, c) for (_, _, sample), c in zip(prims, counts)])
  parts = np.repeat([part for part, _, _ in prims], counts) + family_layout(family)[2][class_id]
  a = rng.uniform(-MAX_ANGLE, MAX_ANGLE)
  rot = np.array([[np.cos(a), np.sin(a), 0], [-np.sin(a), np.cos(a), 0], [0, 0, 1]])
  points = points @ rot + rng.normal(0, JITTER_SIGMA, points.shape)
  order = rng.permutation(num_points)
  return points[order].astype(np.float32), parts[order].astype(np.int32)


def crop(rng: np.random.Generator, points: np.ndarray, parts: np.ndarray, num_points: int,
         max_crop: float) -> tuple[np.ndarray, np.ndarray]:
  """A partial view: drops the points beyond a random plane, keeps `num_points` of the rest.

  The plane has a uniformly random normal and cuts away a share of the points drawn
  from U(0, max_crop). points: [M, 3] shuffled, M >= num_points / (1 - max_crop).
  """
  normal = rng.normal(size=3)
  height = points @ (normal / np.linalg.norm(normal))
  keep = height <= np.quantile(height, 1 - rng.uniform(0, max_crop))
  return points[keep][:num_points], parts[keep][:num_points]


def _split(rng: np.random.Generator, per_class: int, num_points: int,
           max_crop: float, family: str) -> Split:
  """per_class instances of every class, normalised to the unit sphere, shuffled."""
  labels = np.repeat(np.arange(len(FAMILIES[family]), dtype=np.int32), per_class)
  if max_crop > 0:
    extra = int(np.ceil(num_points / (1 - max_crop))) + 1
    clouds = [crop(rng, *sample_shape(rng, int(c), extra, family), num_points, max_crop)
              for c in labels]
  else:
    clouds = [sample_shape(rng, int(c), num_points, family) for c in labels]
  points = np.stack([p for p, _ in clouds]).astype(np.float64)
  parts = np.stack([q for _, q in clouds])
  points -= points.mean(axis=1, keepdims=True)
  points /= np.linalg.norm(points, axis=-1).max(axis=-1)[:, None, None] + 1e-4
  order = rng.permutation(len(labels))
  return Split(points[order].astype(np.float32), labels[order], parts[order])


def make_shapes(num_train_per_class: int = 100, num_test_per_class: int = 40,
                num_points: int = 1024, seed: int = 0,
                max_crop: float = 0.0, family: str = 'objects') -> PointCloudDataset:
  """The procedural shapes dataset of a family (`FAMILIES`), deterministic in `seed`.

  `max_crop` in [0, 1): each cloud loses a random share U(0, max_crop) of its
  surface to a random plane (partial views, see `crop`); 0 gives whole objects.

  Train and test come from independent streams, `default_rng([seed, 0])` and
  `default_rng([seed, 1])`. Clouds are centred and scaled into the unit sphere.

  Returns:
    a validated PointCloudDataset with part labels ([N, num_points] int32).
  """
  if not 0 <= max_crop < 1:
    raise ValueError(f'max_crop must be in [0, 1), got {max_crop}.')
  if family not in FAMILIES:
    raise ValueError(f'family {family!r} is unknown; use one of {", ".join(FAMILIES)}.')
  splits = {'train': _split(np.random.default_rng([seed, 0]), num_train_per_class, num_points,
                            max_crop, family),
            'test': _split(np.random.default_rng([seed, 1]), num_test_per_class, num_points,
                           max_crop, family)}
  names, counts, _, _ = family_layout(family)
  return validate(PointCloudDataset(
      name='shapes' if family == 'objects' else f'shapes_{family}', class_names=names,
      splits=splits, num_parts=sum(counts),
      source=f'procedural (seed={seed})' if family == 'objects'
      else f'procedural {family} (seed={seed})'))
