"""One suite over every registered method and task: exported sets, single tracing, exact
resume.

Each method is built by name from the registry on a tiny procedural dataset, so a
new method module is tested by this file without being listed here; it runs once per
registered task it does (`config.task_methods`), as `<name>` for shape classification
and `<name>/<task>` for the others (`dd3d/segmentation`: the same clouds with their part
labels), so a new task module is tested here too.
"""

import dataclasses
import functools
import logging

import chex
import jax
import numpy as np
import pytest

from dd3d_jax import config as config_lib
from dd3d_jax import data as data_lib
from dd3d_jax import distill, fields, methods, records, registry, runner
from dd3d_jax.methods import Context
from dd3d_jax.methods import _matching
from dd3d_jax.methods import random as random_method
from dd3d_jax import tasks as tasks_lib
from dd3d_jax.rotator import IdentityRotator

CPC, POINTS, TRAIN_POINTS = 2, 48, 32


@functools.lru_cache(maxsize=2)
def tiny_setup(task='classification'):
  c = config_lib.base_config()
  c.data.update(format='shapes', num_points=POINTS)
  c.data.shapes.update(num_train_per_class=4, num_test_per_class=1)
  c.distill.update(cpc=CPC, iterations=3, outer_loop=2, inner_loop=1, batch_real=3,
                   train_points=TRAIN_POINTS)
  c.methods.dd3d.hidden = 16
  c.methods.dm.iterations = c.methods.sadm.iterations = c.methods.tm.iterations = 3
  c.methods.tddp.update(iterations=3, chunks=2, morphs=2)
  c.methods.tm.update(num_experts=2, max_start_epoch=2, expert_epochs=1, syn_steps=2,
                      expert_batch=8, batch_syn=10)
  dataset = data_lib.load(c.data)
  k = dataset.num_classes
  features = np.random.default_rng(0).normal(size=(len(dataset.train), 8)).astype(np.float32)
  stored = {}  # TM's experts, trained once per session

  def cache(path, make):
    return stored[path] if path in stored else stored.setdefault(path, make())

  c.task = task
  spec = tasks_lib.make(task, dataset)
  if spec.per_point:
    c.distill.batch_syn = 8
  context = Context(dataset, spec.network('pointnet', IdentityRotator()), CPC,
                    lambda epochs: features, cache, task=spec)
  real = distill.make_real_data(dataset.train.points, dataset.train.labels, k, min_width=3,
                                targets=spec.targets(dataset.train))
  return c, context, real


def build(name):
  """`name` (shape classification), or `name/task` for another task."""
  name, _, task = name.partition('/')
  c, context, real = tiny_setup(task or 'classification')
  settings = config_lib.method_settings(c, name)
  return registry.get('methods', name).from_config(settings, context), context, real


METHODS = [n if task == 'classification' else f'{n}/{task}'
           for task in tasks_lib.names() for n in config_lib.task_methods(task)]


def test_every_table1_method_is_registered():
  assert set(config_lib.TABLE1_METHODS.split(',')) <= set(METHODS)


@pytest.mark.parametrize('name', registry.names('methods'))
def test_optional_module_fields_are_well_formed(name):
  module = registry.get('methods', name)
  does = getattr(module, 'TASKS', ('classification',))
  assert does == '*' or ('classification' in does and set(does) <= set(tasks_lib.names()))
  c = config_lib.base_config()
  settings = config_lib.method_settings(c, name)  # the defaults pass the method's own check
  getattr(module, 'check', lambda *args: None)(settings, c, f'methods.{name}')
  assert getattr(module, 'DIVERGES_WITH', 'lr') in settings


@pytest.mark.parametrize('name', registry.names('methods'))
def test_module_declares_its_settings_and_their_rules(name):
  """DEFAULTS are the entry of `config.methods.<name>` (beside the `networks` every method
  takes); each has a rule that accepts it."""
  module = registry.get('methods', name)
  entry = config_lib.base_config().methods[name]
  assert set(entry) - {'type'} == set(module.DEFAULTS) | {'networks'}
  rules = {**config_lib.COMMON_METHOD_FIELDS,
           **(module.fields_of(entry, name) if hasattr(module, 'fields_of') else module.FIELDS)}
  for k, v in module.DEFAULTS.items():
    assert k in rules, f'{name}.{k} has no rule'
    if not isinstance(v, fields.Inherit):
      fields.check(rules[k], f'methods.{name}.{k}', v)


# Every registered objective, and one from outside the package (by its dotted path).
OBJECTIVES = [*registry.names('objectives'), 'tests.plugins.moments']


@pytest.mark.parametrize('objective', OBJECTIVES)
def test_every_objective_trains_the_generator(objective):
  """`methods.dd3d.objective` picks the objective by name; its own settings reach it, and
  two steps move every generator parameter."""
  module = registry.get('objectives', objective)
  assert set(module.OBJECTIVE_DEFAULTS) == set(module.OBJECTIVE_FIELDS)
  for k, v in module.OBJECTIVE_DEFAULTS.items():
    fields.check(module.OBJECTIVE_FIELDS[k], k, v)
  c, context, real = tiny_setup()
  c = c.copy_and_resolve_references()
  c.methods.dd3d.objective = objective
  changed = {k: v / 2 for k, v in module.OBJECTIVE_DEFAULTS.items()
             if isinstance(v, float) and v > 0}
  c.methods.dd3d.update(changed)
  config_lib.validate(c)
  method = registry.get('methods', 'dd3d').from_config(config_lib.method_settings(c, 'dd3d'),
                                                        context)
  for k, v in changed.items():  # the method keeps each setting under its own name
    assert v in [getattr(method, f.name) for f in dataclasses.fields(method)], k
  state = method.init(jax.random.key(0), real)
  step = jax.jit(method.step)
  after, metrics = step(*step(state, real)[:1], real)
  assert np.isfinite(float(metrics['loss'])) and int(after.iteration) == 2
  moved = jax.tree.map(lambda a, b: bool((a != b).any()), after.gen_params, state.gen_params)
  assert all(jax.tree.leaves(moved))  # every generator parameter gets a gradient
  small = method.export(after, jax.random.key(1), POINTS)  # any resolution
  assert small.points.shape == (context.dataset.num_classes * CPC, POINTS, 3)


@pytest.mark.parametrize('name', METHODS)
def test_stored_values_are_the_clouds_or_the_generator(name):
  method, context, real = build(name)
  state = method.init(jax.random.key(0), real)
  small = method.export(state, jax.random.key(1), POINTS)
  stored = methods.stored_values(state, small)
  m = len(small.labels)
  clouds = small.points.size + (small.targets.size if small.targets.ndim > 1 else 0)
  if name.split('/')[0] == 'dd3d':  # its generator, whatever the resolution drawn from it
    learned = state[0] if isinstance(state, tuple) else state
    assert stored == sum(np.size(x) for x in jax.tree.leaves(learned.gen_params))
    assert stored == methods.stored_values(state, method.export(state, jax.random.key(1),
                                                                2 * POINTS))
  elif getattr(method, 'clouds_per_class', CPC) != CPC:  # clouds made from what it stores
    assert stored == sum(np.size(x) for x in jax.tree.leaves(state.gen_params)) < clouds
  else:  # the clouds, with a tensor method's own extras (SADM's rotations, TM's step size)
    assert 0 <= stored - clouds <= (4 * m if method.num_steps else 0), (stored, clouds)


@pytest.mark.parametrize('name', METHODS)
def test_export_shapes_dtypes_and_classes(name):
  method, context, real = build(name)
  state = method.init(jax.random.key(0), real)
  small = method.export(state, jax.random.key(1), POINTS)
  k, train = context.dataset.num_classes, context.dataset.train
  name = name.split('/')[0]
  per_class = getattr(method, 'clouds_per_class', CPC)  # 3DDP: its chunks and morphs
  m = len(train) if name == 'full' else k * per_class
  assert small.points.dtype == np.float32 and small.labels.dtype == np.int32
  assert small.points.shape[0] == small.labels.shape[0] == m and small.points.shape[2] == 3
  assert small.points.shape[1] in (POINTS, TRAIN_POINTS, getattr(method, 'resolution', POINTS))
  assert np.isfinite(small.points).all()
  assert np.linalg.norm(small.points, axis=-1).max() <= 1.0 + 1e-5
  np.testing.assert_array_equal(np.bincount(small.labels, minlength=k),
                                np.bincount(train.labels) if name == 'full' else per_class)
  assert (method.num_steps == 0) == (name in ('random', 'herding', 'kcenter', 'kmedoids', 'full'))
  task = context.task
  assert len(small.targets) == m
  if not task.per_point:
    assert small.targets.shape[:1] == (m,)
    return
  assert small.targets.shape == small.points.shape[:2] and small.targets.dtype == np.int32
  if hasattr(task, 'layout'):  # part segmentation: each point a part of its cloud's class
    offsets, counts = (np.asarray(a)[small.labels][:, None] for a in task.layout[:2])
    assert ((small.targets >= offsets) & (small.targets < offsets + counts)).all()


@pytest.mark.parametrize('name', ['random', 'herding', 'kcenter', 'kmedoids'])
def test_selections_are_real_training_clouds_of_their_class(name):
  method, context, real = build(name)
  state = method.init(jax.random.key(3), real)
  small = method.export(state, jax.random.key(0), POINTS)
  train = context.dataset.train
  idx = np.asarray(state['indices'])
  assert len(set(idx.tolist())) == len(idx)
  np.testing.assert_array_equal(small.points, train.points[idx])
  np.testing.assert_array_equal(small.labels, train.labels[idx])


def test_tensor_methods_start_from_the_random_coreset_of_the_same_key():
  key = jax.random.key(5)
  rand, context, real = build('random')
  chosen = context.dataset.train.points[np.asarray(rand.init(key, real)['indices'])]
  # At full resolution the starting clouds are the random coreset's (renormalised).
  np.testing.assert_allclose(_matching.real_clouds(key, context, POINTS), chosen, atol=1e-3)
  def points(state):  # SADM's set sits beside its rotations
    return np.asarray(state.gen_params.get('set', state.gen_params)['points'])

  for name in ('gm', 'dm', 'sadm', 'tm'):
    method, _, _ = build(name)
    start = points(method.init(key, real))
    np.testing.assert_array_equal(start, _matching.real_clouds(key, context, TRAIN_POINTS))
    other = points(method.init(jax.random.key(6), real))
    assert not np.allclose(start, other)


# Every method resumes by the same runner code; the fast suite resumes one of each kind of
# state (a generator, a tensor set matched by its features, one matched through an unrolled
# trajectory), the slow suite every method: each case is one compile of 15-30 s. The
# parts' loop (DD3D's and GM's for part segmentation) also runs end to end in the fast
# suite's pipeline test.
FAST_RESUME = ('dd3d', 'dm', 'tm')
STEPPED = [n if n in FAST_RESUME else pytest.param(n, marks=pytest.mark.slow)
           for n in METHODS if build(n)[0].num_steps > 0]


@pytest.mark.parametrize('name', STEPPED)
def test_interrupted_and_resumed_equals_uninterrupted_and_traces_once(name, tmp_path, monkeypatch,
                                                                       caplog):
  """Three fits (whole, killed after step 3, resumed) give the same bits and trace the
  method's step at most once between them; the resumed fit, from a restored state, takes
  the program the fresh one compiled (the runner compiles once per method); the steps
  move every learned parameter."""
  method, _, real = build(name)
  assert method.num_steps >= 3
  key = jax.random.key(2)
  step, traces = type(method).step, []

  def counted(self, state, inputs):  # runs only while jit traces
    traces.append(1)
    return step(self, state, inputs)

  monkeypatch.setattr(type(method), 'step', counted)

  def run(folder):
    return runner.Run({'method': name, 'distill': 0}, str(tmp_path / folder / 'ckpt'),
                      str(tmp_path / folder / 'metrics.jsonl'), checkpoint_every=1)

  whole = runner.fit(method, real, key, run('a'))
  learned = lambda state: (state[0] if isinstance(state, tuple) else state).gen_params  # noqa: E731
  moved = jax.tree.map(lambda a, b: bool((np.asarray(a) != np.asarray(b)).any()),
                       learned(whole), learned(method.init(key, real)))
  assert all(jax.tree.leaves(moved)), moved  # every learned parameter gets a gradient
  append, calls = records.append_jsonl, []

  def killed_at_third_step(*args):  # after step 3 ran, before its record and checkpoint
    calls.append(1)
    if len(calls) == 3:
      raise KeyboardInterrupt('preempted')
    return append(*args)

  monkeypatch.setattr(records, 'append_jsonl', killed_at_third_step)
  with pytest.raises(KeyboardInterrupt):
    runner.fit(method, real, key, run('b'))
  monkeypatch.setattr(records, 'append_jsonl', append)
  caplog.set_level(logging.WARNING, logger='jax._src.interpreters.pxla')
  with jax.log_compiles(True):  # logs each lowering (a compile or a compilation-cache load)
    resumed = runner.fit(method, real, key, run('b'))
  assert not [r for r in caplog.records if '_step' in r.getMessage()]  # the same program
  chex.assert_trees_all_equal(resumed, whole)
  lines = records.read_jsonl(str(tmp_path / 'b' / 'metrics.jsonl'))
  assert [m['iteration'] for m in lines] == list(range(1, method.num_steps + 1))
  assert all(np.isfinite(m['loss']) for m in lines)
  assert len(traces) <= 1


def test_random_members_are_distinct_members_of_each_class():
  labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
  members = random_method.random_members(jax.random.key(0), labels, 3, 2)
  assert [len(m) for m in members] == [2, 2, 2]
  for c, m in enumerate(members):
    assert (labels[m] == c).all() and len(set(m.tolist())) == 2
  again = random_method.random_members(jax.random.key(0), labels, 3, 2)
  assert all((a == b).all() for a, b in zip(members, again))
  assert [len(m) for m in random_method.random_members(jax.random.key(1), labels, 3, 3)] == [3, 2, 3]


@pytest.mark.parametrize('task', ['classification', 'segmentation'])
def test_random_at_a_lower_resolution_keeps_points_of_the_same_clouds_with_their_targets(task):
  c, context, real = tiny_setup(task)
  c = c.copy_and_resolve_references()
  train = context.dataset.train
  whole_method = registry.get('methods', 'random').from_config(
      config_lib.method_settings(c, 'random'), context)
  c.methods.random.resolution = 12
  method = registry.get('methods', 'random').from_config(
      config_lib.method_settings(c, 'random'), context)
  state = method.init(jax.random.key(3), real)
  assert state['indices'].tolist() == whole_method.init(jax.random.key(3), real)[
      'indices'].tolist()  # the same clouds
  whole = whole_method.export(state, jax.random.key(0), POINTS)
  small = method.export(state, jax.random.key(0), POINTS)
  assert small.points.shape == (len(whole.labels), 12, 3)
  np.testing.assert_array_equal(small.labels, whole.labels)
  targets = context.task.targets(train)[state['indices']]
  for cloud, cut, cut_targets, t in zip(whole.points, small.points, small.targets, targets):
    rows = [np.flatnonzero((cloud == p).all(-1)) for p in cut]  # each kept point is its own
    assert all(len(r) == 1 for r in rows) and len({int(r[0]) for r in rows}) == 12
    if context.task.per_point:
      np.testing.assert_array_equal(cut_targets, t[[int(r[0]) for r in rows]])
  again = method.export(state, jax.random.key(0), POINTS)
  np.testing.assert_array_equal(again.points, small.points)
  assert methods.stored_values(state, small) * POINTS == methods.stored_values(state, whole) * 12
  c.methods.random.resolution = POINTS  # as many as the clouds have: them as they are
  same = registry.get('methods', 'random').from_config(
      config_lib.method_settings(c, 'random'), context).export(state, jax.random.key(0), POINTS)
  np.testing.assert_array_equal(same.points, whole.points)


@pytest.mark.parametrize('name', ['gm', 'dm'])
def test_a_tensor_method_s_own_train_points_override_the_distill_ones(name):
  c, context, real = tiny_setup()
  c = c.copy_and_resolve_references()
  assert c.methods[name].train_points is None  # a field of the entry: None, distill's
  c.methods[name].train_points = POINTS  # the clouds' own resolution, not TRAIN_POINTS
  config_lib.validate(c)
  method = registry.get('methods', name).from_config(config_lib.method_settings(c, name), context)
  key = jax.random.key(4)
  state = method.init(key, real)
  np.testing.assert_allclose(  # the random coreset's clouds whole
      np.asarray(method.export(state, jax.random.key(0), POINTS).points),
      _matching.real_clouds(key, context, POINTS), atol=1e-5)
  stepped, _ = jax.jit(method.step)(state, methods.step_inputs(method, real))
  assert method.export(stepped, jax.random.key(0), POINTS).points.shape[1] == POINTS
  assert c.distill.train_points == TRAIN_POINTS


@pytest.mark.parametrize('name', ['gm', 'dm'])
def test_zero_iterations_evaluates_the_initial_set(name, tmp_path):
  c, context, real = tiny_setup()
  c = c.copy_and_resolve_references()
  c.methods[name].iterations = 0
  method = registry.get('methods', name).from_config(config_lib.method_settings(c, name), context)
  assert method.num_steps == 0
  key = jax.random.key(4)
  state = runner.fit(method, real, key, runner.Run({}, str(tmp_path / 'c'), str(tmp_path / 'm')))
  small = method.export(state, jax.random.key(0), POINTS)
  np.testing.assert_allclose(small.points, _matching.real_clouds(key, context, TRAIN_POINTS),
                             atol=1e-3)
  assert not (tmp_path / 'c').exists()


def test_gm_for_parts_keeps_the_part_labels_of_the_clouds_it_starts_from():
  from dd3d_jax import geometry
  method, context, real = build('gm/segmentation')
  key = jax.random.key(5)
  state, parts = method.init(key, real)
  chosen = np.asarray(build('random/segmentation')[0].init(key, real)['indices'])
  train = context.dataset.train
  keep = np.asarray(geometry.subsample_indices(jax.random.fold_in(key, 1),
                                               (len(chosen), POINTS), TRAIN_POINTS))
  np.testing.assert_array_equal(parts, np.take_along_axis(train.parts[chosen], keep, axis=1))
  np.testing.assert_allclose(
      state.gen_params['points'],
      geometry.normalize_to_unit_sphere(np.take_along_axis(train.points[chosen],
                                                           keep[..., None], axis=1)), atol=1e-6)
  stepped, _ = jax.jit(method.step)((state, parts), real)
  np.testing.assert_array_equal(stepped[1], parts)                 # the labels never move
  assert not np.allclose(stepped[0].gen_params['points'], state.gen_params['points'])


def test_kmedoids_picks_each_class_s_most_typical_cloud_first():
  """Its first cloud of a class has the least summed Chamfer distance to the others, and
  the tensor methods' init='medoid' starts from its clouds."""
  from dd3d_jax import geometry
  from dd3d_jax.ops.chamfer import pairwise_chamfer
  method, context, real = build('kmedoids')
  key = jax.random.key(3)
  chosen = np.asarray(method.init(key, real)['indices']).reshape(-1, CPC)
  train = context.dataset.train
  for c, (first, second) in enumerate(chosen):
    members = np.flatnonzero(train.labels == c)  # a class of 4: the pool is the class
    clouds = geometry.normalize_to_unit_sphere(train.points[members])
    total = np.asarray(pairwise_chamfer(clouds)).sum(1)
    assert train.labels[second] == c and second != first
    assert total[members == first][0] <= total.min() + 1e-3 * total.max()
  np.testing.assert_array_equal(_matching.start_indices(key, context, 'medoid'),
                                chosen.reshape(-1))


@pytest.mark.parametrize('name', ['gm', 'dm', 'sadm', 'tm'])
def test_feature_mean_start_is_the_clouds_nearest_each_class_mean_feature(name):
  """PCC's start: each class's rows are its clouds nearest the class's mean feature."""
  c, context, real = tiny_setup()
  c = c.copy_and_resolve_references()
  c.methods[name].init = 'feature_mean'
  config_lib.validate(c)
  method = registry.get('methods', name).from_config(config_lib.method_settings(c, name),
                                                     context)
  train, features = context.dataset.train, context.embeddings(None)
  expected = []
  for k in range(context.dataset.num_classes):
    m = np.flatnonzero(train.labels == k)
    d = ((features[m] - features[m].mean(0)) ** 2).sum(-1)
    expected.append(np.resize(m[np.argsort(d, kind='stable')[:CPC]], CPC))
  np.testing.assert_array_equal(_matching.start_indices(None, context, 'feature_mean'),
                                np.concatenate(expected))
  state = method.init(jax.random.key(0), real)
  points = np.asarray(state.gen_params.get('set', state.gen_params)['points'])
  np.testing.assert_array_equal(
      points, _matching.real_clouds(jax.random.key(0), context, TRAIN_POINTS,
                                    init='feature_mean'))
