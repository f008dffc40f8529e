"""Loading the authors' state dicts: exact transposition and clear errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dd3d_jax import convert
from dd3d_jax import generator as gen
from dd3d_jax import models


def official_generator_state(k=3, cpc=2, hidden=256, seed=0):
  rng = np.random.default_rng(seed)
  f = lambda *s: rng.normal(size=s).astype(np.float32)
  return {'lookup.weight': f(k * cpc, hidden), 'layers.0.0.weight': f(hidden, hidden),
          'layers.0.0.bias': f(hidden), 'net.layers.0.weight': f(hidden, 1),
          'net.layers.0.bias': f(hidden), 'net.layers.1.weight': f(hidden, hidden) * 0.1,
          'net.layers.1.bias': f(hidden), 'net.last_layer.weight': f(3, hidden) * 0.1}


def official_pointnet_state(k=5, seed=0):
  rng = np.random.default_rng(seed)
  f = lambda *s: (rng.normal(size=s) * 0.1).astype(np.float32)
  return {'conv1.weight': f(64, 3, 1), 'conv1.bias': f(64), 'conv2.weight': f(128, 64, 1),
          'conv2.bias': f(128), 'conv3.weight': f(1024, 128, 1), 'conv3.bias': f(1024),
          'classifier.weight': f(k, 1024), 'classifier.bias': f(k)}


def reference_generator(sd, noise, idx, w0_initial):
  """The SirenWrapper forward pass in NumPy, on PyTorch-layout weights."""
  mod1 = np.maximum(sd['lookup.weight'][idx], 0)
  mod2 = np.maximum(mod1 @ sd['layers.0.0.weight'].T + sd['layers.0.0.bias'], 0)
  h = np.sin(w0_initial * (noise @ sd['net.layers.0.weight'].T + sd['net.layers.0.bias']))
  h = h * mod1[:, None]
  h = np.sin(h @ sd['net.layers.1.weight'].T + sd['net.layers.1.bias']) * mod2[:, None]
  return np.tanh(h @ sd['net.last_layer.weight'].T)


def test_generator_loads_exactly():
  sd = official_generator_state()
  apply, params = convert.load_official_generator(sd, num_classes=3, cpc=2, w0_initial=50.0)
  noise = np.random.default_rng(1).uniform(size=(4, 100, 1)).astype(np.float32)
  idx = np.array([0, 2, 3, 5])
  out = apply(params, jnp.asarray(noise), jnp.asarray(idx))
  np.testing.assert_allclose(np.asarray(out), reference_generator(sd, noise, idx, 50.0),
                             rtol=1e-4, atol=1e-5)
  # The loaded pytree is the one ModulatedSiren initialises.
  module = gen.ModulatedSiren(num_classes=3, cpc=2, w0_initial=50.0)
  fresh = gen.init_params(module, jax.random.key(0))
  assert jax.tree.structure(fresh) == jax.tree.structure(params)
  assert all(a.shape == b.shape for a, b in zip(jax.tree.leaves(fresh), jax.tree.leaves(params)))


def test_pointnet_loads_exactly():
  sd = official_pointnet_state()
  apply, params = convert.load_official_pointnet(sd, num_classes=5)
  pts = np.random.default_rng(2).normal(size=(3, 64, 3)).astype(np.float32)

  def conv_in(x, name, relu):
    y = x @ sd[f'{name}.weight'][..., 0].T + sd[f'{name}.bias']
    y = (y - y.mean(1, keepdims=True)) / np.sqrt(y.var(1, keepdims=True) + 1e-5)
    return np.maximum(y, 0) if relu else y

  feat = conv_in(conv_in(conv_in(pts, 'conv1', True), 'conv2', True), 'conv3', False).max(1)
  ref = feat @ sd['classifier.weight'].T + sd['classifier.bias']
  np.testing.assert_allclose(np.asarray(apply(params, jnp.asarray(pts))), ref, rtol=1e-4, atol=1e-4)
  fresh = models.make_network('pointnet', 5).init(jax.random.key(0))['params']['net']
  assert jax.tree.structure(fresh) == jax.tree.structure(params)


@pytest.mark.parametrize('mutate, message', [
    (lambda sd: sd.pop('net.layers.0.bias'), r"missing \['net.layers.0.bias'\]"),
    (lambda sd: sd.update({'net.extra.weight': np.zeros(3)}), r"unknown \['net.extra.weight'\]"),
    (lambda sd: sd.update({'lookup.weight': np.zeros((7, 256))}),
     r'lookup.weight has shape \(7, 256\), expected \(6, 256\)'),
])
def test_generator_errors(mutate, message):
  sd = official_generator_state()
  mutate(sd)
  with pytest.raises(ValueError, match=message):
    convert.load_official_generator(sd, num_classes=3, cpc=2, w0_initial=50.0)


@pytest.mark.parametrize('mutate, message', [
    (lambda sd: sd.pop('conv2.weight'), r"missing \['conv2.weight'\]"),
    (lambda sd: sd.update({'bn1.weight': np.zeros(64)}), r"unknown \['bn1.weight'\]"),
    (lambda sd: sd.update({'classifier.weight': np.zeros((40, 1024))}),
     r'classifier.weight has shape \(40, 1024\), expected \(5, 1024\)'),
])
def test_pointnet_errors(mutate, message):
  sd = official_pointnet_state()
  mutate(sd)
  with pytest.raises(ValueError, match=message):
    convert.load_official_pointnet(sd, num_classes=5)


def test_wrapped_names_get_a_hint():
  sd = {f'net.{k}': v for k, v in official_pointnet_state().items()}
  with pytest.raises(ValueError, match="strip that prefix"):
    convert.load_official_pointnet(sd, num_classes=5)


def test_generator_without_siren_names():
  with pytest.raises(ValueError, match="needs 'lookup.weight'"):
    convert.load_official_generator({'conv1.weight': np.zeros((64, 3, 1))}, num_classes=1, cpc=1,
                                    w0_initial=1.0)
