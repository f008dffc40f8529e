"""Interop with the authors' PyTorch checkpoints (state dicts as NumPy arrays).

PyTorch stores Linear weights as (out, in) and Conv1d weights as (out, in, 1);
Flax kernels are (in, out). These loaders transpose accordingly, check every
name and shape, and return a pure `apply` with a Flax parameter pytree.

Get a state dict from an official checkpoint with, for instance:

    wrapper = torch.load(path, weights_only=False)      # gm_inr.py saves modules
    state_dict = {k: v.detach().cpu().numpy() for k, v in wrapper.state_dict().items()}
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

import jax.numpy as jnp
import numpy as np

from dd3d_jax import generator as generator_lib
from dd3d_jax.models.pointnet import FEATURE_DIM, PointNetCls


def _as_arrays(state_dict: Mapping[str, Any], expected: Mapping[str, tuple[int, ...]],
               what: str) -> dict[str, np.ndarray]:
  """Checks names and shapes against `expected`; returns float32 NumPy arrays."""
  missing = sorted(set(expected) - set(state_dict))
  unknown = sorted(set(state_dict) - set(expected))
  problems = []
  if missing:
    problems.append(f'missing {missing}')
  if unknown:
    problems.append(f'unknown {unknown}')
  arrays = {}
  for name in sorted(set(expected) & set(state_dict)):
    try:
      arr = np.asarray(state_dict[name], dtype=np.float32)
    except (TypeError, ValueError, RuntimeError) as e:
      raise ValueError(f'{what}: {name} is not an array ({e}); pass '
                       f'{{k: v.detach().cpu().numpy()}} of the state dict.') from None
    if arr.shape != tuple(expected[name]):
      problems.append(f'{name} has shape {arr.shape}, expected {tuple(expected[name])}')
    arrays[name] = arr
  if problems:
    hint = ''
    if any(k.startswith(('net.', 'module.')) for k in state_dict):
      hint = " (names start with 'net.' or 'module.': strip that prefix first)"
    raise ValueError(f'{what} state dict does not match: ' + '; '.join(problems) + hint)
  return arrays


def load_official_generator(state_dict: Mapping[str, Any], *, num_classes: int, cpc: int,
                            w0_initial: float) -> tuple[Callable, dict]:
  """Loads the authors' `SirenWrapper(SirenNet(...))` weights.

  Args:
    state_dict: names as in the authors' module: `lookup.weight` [K*cpc, H],
      `layers.{j}.0.weight|bias` (modulation Linear layers), `net.layers.{i}.weight|bias`
      (sine layers), `net.last_layer.weight` [3, H].
    num_classes, cpc: the synthetic set's shape (K, clouds per class).
    w0_initial: the first layer's frequency used when it was trained (not stored
      in the state dict: ModelNet40 100, ScanObjectNN 50, MVPNet 100, ShapeNet 400).
  Returns:
    (apply, params) with `apply(params, noise [B, N, 1], indices [B]) -> [B, N, 3]`.
  """
  if 'lookup.weight' not in state_dict or 'net.last_layer.weight' not in state_dict:
    raise ValueError("generator state dict needs 'lookup.weight' and 'net.last_layer.weight' "
                     f"(SirenWrapper names); got {sorted(state_dict)[:6]}...")
  hidden = np.shape(state_dict['lookup.weight'])[-1]
  out_dim = np.shape(state_dict['net.last_layer.weight'])[0]
  num_layers = sum(1 for k in state_dict if k.startswith('net.layers.') and k.endswith('.weight'))
  expected = {'lookup.weight': (num_classes * cpc, hidden),
              'net.last_layer.weight': (out_dim, hidden)}
  for i in range(num_layers):
    fan_in = 1 if i == 0 else hidden
    expected[f'net.layers.{i}.weight'] = (hidden, fan_in)
    expected[f'net.layers.{i}.bias'] = (hidden,)
  for j in range(num_layers - 1):
    expected[f'layers.{j}.0.weight'] = (hidden, hidden)
    expected[f'layers.{j}.0.bias'] = (hidden,)
  sd = _as_arrays(state_dict, expected, 'generator')

  params = {'embedding': sd['lookup.weight'], 'out': {'kernel': sd['net.last_layer.weight'].T}}
  for i in range(num_layers):
    params[f'sine_{i}'] = {'kernel': sd[f'net.layers.{i}.weight'].T,
                           'bias': sd[f'net.layers.{i}.bias']}
  for j in range(num_layers - 1):
    params[f'mod_{j}'] = {'kernel': sd[f'layers.{j}.0.weight'].T, 'bias': sd[f'layers.{j}.0.bias']}
  module = generator_lib.ModulatedSiren(num_classes=num_classes, cpc=cpc, w0_initial=w0_initial,
                                        hidden=hidden, num_layers=num_layers, out_dim=out_dim)
  params = {k: jnp.asarray(v) if not isinstance(v, dict) else
            {kk: jnp.asarray(vv) for kk, vv in v.items()} for k, v in params.items()}
  return functools.partial(generator_lib.generate, module), params


def load_official_pointnet(state_dict: Mapping[str, Any], *,
                           num_classes: int) -> tuple[Callable, dict]:
  """Loads the authors' lightweight `PointNet` (InstanceNorm) weights.

  Args:
    state_dict: `conv1.weight` (64, 3, 1), `conv1.bias` (64,), `conv2.*`, `conv3.*`,
      `classifier.weight` (K, 1024), `classifier.bias` (K,).
    num_classes: K.
  Returns:
    (apply, params) with `apply(params, points [B, N, 3]) -> logits [B, K]`.
  """
  dims = {'conv1': (64, 3), 'conv2': (128, 64), 'conv3': (FEATURE_DIM, 128)}
  expected = {'classifier.weight': (num_classes, FEATURE_DIM), 'classifier.bias': (num_classes,)}
  for name, (out, fan_in) in dims.items():
    expected[f'{name}.weight'] = (out, fan_in, 1)
    expected[f'{name}.bias'] = (out,)
  sd = _as_arrays(state_dict, expected, 'PointNet')
  params = {name: {'kernel': jnp.asarray(sd[f'{name}.weight'][..., 0].T),
                   'bias': jnp.asarray(sd[f'{name}.bias'])} for name in dims}
  params['classifier'] = {'kernel': jnp.asarray(sd['classifier.weight'].T),
                          'bias': jnp.asarray(sd['classifier.bias'])}
  module = PointNetCls(num_classes=num_classes)

  def apply(params, points):
    return module.apply({'params': params}, points)

  return apply, params
