"""Pictures of point-cloud sets and of training curves (PNG, headless matplotlib)."""

from __future__ import annotations

import math
import os
from typing import Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)
import numpy as np  # noqa: E402

from dd3d_jax import devices, records  # noqa: E402


def _scatter3d(ax, cloud: np.ndarray, title: str = '') -> None:
  depth = cloud[:, 0] - cloud[:, 1]
  ax.scatter(cloud[:, 0], cloud[:, 1], cloud[:, 2], c=depth, cmap='viridis', s=2, linewidths=0)
  ax.set_xlim(-1, 1), ax.set_ylim(-1, 1), ax.set_zlim(-1, 1)
  ax.set_box_aspect((1, 1, 1))
  ax.view_init(elev=20, azim=-60)
  ax.set_axis_off()
  if title:
    ax.set_title(title, fontsize=8)


def _save(fig, path: str) -> None:
  """Writes the figure to a temporary name and renames it: a PNG is whole or absent
  (process 0 of a job of several writes it)."""
  if not devices.is_writer():
    plt.close(fig)
    return
  tmp = path + '.tmp.png'
  try:
    with records.naming(path):
      fig.savefig(tmp)
    os.replace(tmp, path)
  finally:
    plt.close(fig)
    if os.path.exists(tmp):
      os.remove(tmp)


def render_overview(path: str, points: np.ndarray, labels: np.ndarray,
                    class_names: Sequence[str]) -> None:
  """One PNG with the first cloud of every class. points: [M, N, 3]; labels: [M]."""
  k = len(class_names)
  cols = math.ceil(math.sqrt(k))
  rows = math.ceil(k / cols)
  fig = plt.figure(figsize=(2.2 * cols, 2.2 * rows), dpi=100)
  for c in range(k):
    members = np.flatnonzero(labels == c)
    ax = fig.add_subplot(rows, cols, c + 1, projection='3d')
    _scatter3d(ax, points[members[0]] if len(members) else np.zeros((0, 3)), class_names[c])
  fig.tight_layout()
  _save(fig, path)


def render_class(path: str, clouds: np.ndarray, name: str, max_clouds: int = 10) -> None:
  """One PNG per class: each cloud in 3-D and as three axis-aligned projections.

  clouds: [C, N, 3]; at most `max_clouds` are drawn.
  """
  clouds = clouds[:max_clouds]
  fig = plt.figure(figsize=(8, 2 * len(clouds)), dpi=90)
  for i, cloud in enumerate(clouds):
    _scatter3d(fig.add_subplot(len(clouds), 4, 4 * i + 1, projection='3d'), cloud,
               f'{name} #{i}')
    for j, (a, b) in enumerate([(0, 1), (0, 2), (1, 2)]):
      ax = fig.add_subplot(len(clouds), 4, 4 * i + j + 2)
      ax.scatter(cloud[:, a], cloud[:, b], s=1, c='k', linewidths=0)
      ax.set_xlim(-1, 1), ax.set_ylim(-1, 1), ax.set_aspect('equal')
      ax.set_xticks([]), ax.set_yticks([])
      ax.set_title(f'{"xyz"[a]}{"xyz"[b]}', fontsize=7)
  fig.tight_layout()
  _save(fig, path)


def render_set(directory: str, points: np.ndarray, labels: np.ndarray,
               class_names: Sequence[str]) -> list[str]:
  """Renders one picture per class and then an overview (so that overview.png marks a
  finished rendering) into `directory`; returns the paths."""
  os.makedirs(directory, exist_ok=True)
  paths = []
  for c, name in enumerate(class_names):
    safe = ''.join(ch if ch.isalnum() else '_' for ch in name)
    paths.append(os.path.join(directory, f'class_{c:03d}_{safe}.png'))
    render_class(paths[-1], points[labels == c], name)
  paths.insert(0, os.path.join(directory, 'overview.png'))
  render_overview(paths[0], points, labels, class_names)
  return paths


def plot_curves(path: str, curves: dict[str, tuple[Sequence[float], Sequence[float]]],
                ylabel: str, xlabel: str = 'iteration') -> None:
  """Line plot of named (x, y) curves to a PNG."""
  fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
  for name, (x, y) in curves.items():
    ax.plot(x, y, label=name)
  ax.set_xlabel(xlabel), ax.set_ylabel(ylabel)
  ax.grid(alpha=0.3)
  if len(curves) > 1:
    ax.legend()
  fig.tight_layout()
  _save(fig, path)
