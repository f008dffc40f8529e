"""TensorBoard event folders read back as TensorBoard's server shows them: with its own
loader (`plugin_event_accumulator`, as `tensorboard --load_fast=false` reads a logdir),
which drops the events that a restart's SessionLog START purges."""

import numpy as np
from tensorboard.backend.event_processing import plugin_event_accumulator
from tensorboard.plugins.mesh.plugin_data_pb2 import MeshPluginData
from tensorboard.util.tensor_util import make_ndarray


def f32(x) -> float:
  """A number as a scalar event holds it (float32)."""
  return float(np.float32(x))


def _loaded(folder: str) -> plugin_event_accumulator.EventAccumulator:
  acc = plugin_event_accumulator.EventAccumulator(
      folder, size_guidance=plugin_event_accumulator.STORE_EVERYTHING_SIZE_GUIDANCE)
  acc.Reload()
  return acc


def scalars(folder: str) -> dict[str, list[tuple[int, float]]]:
  """tag -> [(step, value)] of every scalar shown for the run `folder`."""
  acc = _loaded(folder)
  return {tag: [(e.step, make_ndarray(e.tensor_proto).item()) for e in acc.Tensors(tag)]
          for tag in acc.PluginTagToContent('scalars')}


def clouds(folder: str) -> dict[str, tuple[list[int], np.ndarray, np.ndarray]]:
  """Mesh-plugin name -> (the steps it is shown at, vertices [V, 3], colours [V, 3]) of the
  point clouds shown for the run `folder` (the newest of each; none has faces)."""
  acc, parts = _loaded(folder), {}
  for tag, content in acc.PluginTagToContent('mesh').items():
    meta, shown = MeshPluginData.FromString(content), acc.Tensors(tag)
    parts.setdefault(meta.name, {})[meta.content_type] = (
        [e.step for e in shown], make_ndarray(shown[-1].tensor_proto))
  out = {}
  for name, kinds in parts.items():
    assert set(kinds) == {MeshPluginData.VERTEX, MeshPluginData.COLOR}, name
    (steps, vertices), (_, colors) = kinds[MeshPluginData.VERTEX], kinds[MeshPluginData.COLOR]
    assert vertices.shape[0] == colors.shape[0] == 1, name  # one cloud per summary
    out[name] = steps, vertices[0], colors[0]
  return out
