"""DD3D's real initialisation: the Chamfer fit lowers the distance to the real clouds
(for part segmentation, each part's distance to the same part)."""

import functools

import jax
import numpy as np
import pytest

from dd3d_jax import config as config_lib
from dd3d_jax import distill, registry
from dd3d_jax.methods import _matching
from dd3d_jax.generator import synthetic_labels
from dd3d_jax.methods.dd3d import fit_to_clouds, noise_targets
from dd3d_jax.ops.chamfer import chamfer_distance
from tests.methods.test_methods import CPC, POINTS, TRAIN_POINTS, tiny_setup


def build(task='classification', **dd3d_fields):
  c, context, real = tiny_setup(task)
  settings = config_lib.method_settings(c, 'dd3d')
  settings.update(dd3d_fields)
  return registry.get('methods', 'dd3d').from_config(settings, context), context, real


def test_fit_lowers_the_chamfer_distance():
  method, context, _ = build()
  synth = method.distiller.synthesizer
  targets = _matching.real_clouds(jax.random.key(0), context, TRAIN_POINTS)
  start = synth.init(jax.random.key(1))
  _, losses = jax.jit(fit_to_clouds, static_argnums=(0, 4))(synth, start, targets,
                                                              jax.random.key(2), 100, 3e-3)
  assert float(losses[-1]) < 0.5 * float(losses[0]), losses


@pytest.mark.parametrize('init, clouds', [  # the same fit; only its target clouds differ
    ('real', 'random'), pytest.param('medoid', 'medoid', marks=pytest.mark.slow)])
def test_real_initialisation_starts_near_its_coresets_clouds_and_distils(init, clouds):
  """init='real' fits the random coreset's clouds, init='medoid' the kmedoids coreset's."""
  plain, context, real = build()
  fitted, _, _ = build(init=init, init_steps=100, init_lr=3e-3)
  key = jax.random.key(5)
  targets = _matching.real_clouds(key, context, TRAIN_POINTS, init=clouds)

  def gap(method):
    state = method.init(key, real)
    points, _ = distill.labelled_set(method.distiller, state.gen_params, jax.random.key(6),
                                     TRAIN_POINTS)
    return float(chamfer_distance(points, targets).mean()), state

  (before, _), (after, state) = gap(plain), gap(fitted)
  assert after < 0.5 * before
  state, metrics = jax.jit(fitted.step)(state, real)
  assert np.isfinite(float(metrics['loss']))
  small = fitted.export(state, jax.random.key(7), POINTS)
  assert small.points.shape == (context.dataset.num_classes * CPC, POINTS, 3)


def test_part_real_initialisation_fits_each_part_to_the_same_part():
  plain, context, real = build('segmentation')
  fitted, _, _ = build('segmentation', init='real', init_steps=100, init_lr=3e-3)
  key = jax.random.key(5)
  targets, parts = _matching.real_clouds(key, context, TRAIN_POINTS, with_targets=True)

  def gap(method):
    state = method.init(key, real)
    points, labels = distill.labelled_set(method.distiller, state.gen_params,
                                          jax.random.key(6), TRAIN_POINTS)
    return float(chamfer_distance(points, targets, labels, parts).mean()), state

  (before, _), (after, state) = gap(plain), gap(fitted)
  assert after < 0.6 * before
  state, metrics = jax.jit(fitted.step)(state, real)
  assert np.isfinite(float(metrics['loss']))
  # the same fit blind to the labels leaves the parts further from their own parts
  synth = plain.distiller.synthesizer
  noise_parts = functools.partial(noise_targets, context.task, np.asarray(
      synthetic_labels(context.dataset.num_classes, CPC)))
  start = plain.init(key, real).gen_params
  fit = jax.jit(fit_to_clouds, static_argnums=(0, 4, 7))
  blind = fit(synth, start, targets, jax.random.key(2), 100, 3e-3)[0]
  aware = fit(synth, start, targets, jax.random.key(2), 100, 3e-3, parts, noise_parts)[0]

  def labelled_gap(params):
    points, labels = distill.labelled_set(plain.distiller, params, jax.random.key(6),
                                          TRAIN_POINTS)
    return float(chamfer_distance(points, targets, labels, parts).mean())

  assert labelled_gap(aware) < 0.8 * labelled_gap(blind)


@pytest.mark.slow  # two fits and a step: about 45 s
def test_part_latents_fit_parts_closer_and_distil_and_export_labels_at_any_resolution():
  """A code per cloud and part: the same real fit ends nearer each part's own part."""
  context, real = build('segmentation')[1:]
  key = jax.random.key(5)
  targets, parts = _matching.real_clouds(key, context, TRAIN_POINTS, with_targets=True)

  def fitted(**fields):
    method = build('segmentation', init='real', init_steps=100, init_lr=3e-3, **fields)[0]
    state = method.init(key, real)
    points, labels = distill.labelled_set(method.distiller, state.gen_params,
                                          jax.random.key(6), TRAIN_POINTS)
    return float(chamfer_distance(points, targets, labels, parts).mean()), method, state

  (plain, _, _), (conditioned, method, state) = fitted(), fitted(part_latents=True)
  assert conditioned < 0.9 * plain, (conditioned, plain)
  state, metrics = jax.jit(method.step)(state, real)
  assert np.isfinite(float(metrics['loss']))
  small = method.export(state, jax.random.key(7), 2 * POINTS)
  assert small.points.shape[1] == small.targets.shape[1] == 2 * POINTS
  layout = context.task.layout  # every point labelled with a part of its cloud's class
  first = np.asarray(layout.offsets)[small.labels][:, None]
  assert np.all((small.targets >= first)
                & (small.targets < first + np.asarray(layout.counts)[small.labels][:, None]))


@pytest.mark.parametrize('task', [  # the parts' loop compiles for half a minute
    'classification', pytest.param('segmentation', marks=pytest.mark.slow)])
def test_a_surface_generator_distils_and_exports_any_resolution_with_its_parts(task):
  """noise_dim=2: the generator's input is a square; a step trains it and the export
  labels each point by its first noise value, as the paper's one-value generator does."""
  method, context, real = build(task, noise_dim=2, part_latents=task == 'segmentation')
  assert method.distiller.synthesizer.noise_dim == 2
  state = method.init(jax.random.key(0), real)
  state, metrics = jax.jit(method.step)(state, real)
  assert np.isfinite(float(metrics['loss']))
  small = method.export(state, jax.random.key(1), 2 * POINTS)
  assert small.points.shape == (context.dataset.num_classes * CPC, 2 * POINTS, 3)
  if task == 'segmentation':
    layout = context.task.layout
    first, count = (np.asarray(a)[small.labels][:, None] for a in layout[:2])
    assert ((small.targets >= first) & (small.targets < first + count)).all()
