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


def part_colors(parts: np.ndarray, cmap: str = 'tab10') -> np.ndarray:
  """The colour of every point of one class's clouds by its part.

  A part's colour is the entry of the qualitative map `cmap` at the part's rank among the
  part ids in `parts` (cycling past the map's length), so that every class's parts take
  the first colours of the map whatever their global ids.

  Args:
    parts: [C, N] int global part ids of the C clouds of one class.
    cmap: the name of a matplotlib colormap with discrete colours.

  Returns:
    [C, N, 4] float RGBA.
  """
  colormap = matplotlib.colormaps[cmap]
  return colormap(np.searchsorted(np.unique(parts), parts) % colormap.N)


def safe_name(name: str) -> str:
  """`name` with every character but letters and digits made '_' (for file names and tags)."""
  return ''.join(ch if ch.isalnum() else '_' for ch in name)


def _scatter3d(ax, cloud: np.ndarray, title: str = '', colors: np.ndarray | None = None) -> None:
  """Draws a [N, 3] cloud coloured by `colors` ([N, 4] RGBA) or, without them, by depth."""
  style = ({'c': cloud[:, 0] - cloud[:, 1], 'cmap': 'viridis'} if colors is None
           else {'c': colors})
  ax.scatter(cloud[:, 0], cloud[:, 1], cloud[:, 2], s=2, linewidths=0, **style)
  ax.set_xlim(-1, 1), ax.set_ylim(-1, 1), ax.set_zlim(-1, 1)
  ax.set_box_aspect((1, 1, 1))
  ax.view_init(elev=20, azim=-60)
  ax.set_axis_off()
  if title:
    ax.set_title(title, fontsize=8)


def _fixed_margins(fig, title_inches: float = 0.0) -> None:
  """Margins for a grid of titled axes under a suptitle `title_inches` tall, set once:
  `tight_layout` would draw the figure an extra time to measure it (a third of a
  picture's time)."""
  fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, wspace=0.05, hspace=0.25,
                      top=1 - (0.2 + title_inches) / fig.get_figheight())


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
                    class_names: Sequence[str], parts: np.ndarray | None = None) -> None:
  """One PNG with the first cloud of every class.

  points: [M, N, 3]; labels: [M]; parts: [M, N] int global part ids, or None to colour
  by depth (with parts, a class's colours are those of its `render_class` picture).
  """
  k = len(class_names)
  cols = math.ceil(math.sqrt(k))
  rows = math.ceil(k / cols)
  fig = plt.figure(figsize=(2.2 * cols, 2.2 * rows), dpi=100)
  for c in range(k):
    members = np.flatnonzero(labels == c)
    ax = fig.add_subplot(rows, cols, c + 1, projection='3d')
    colors = part_colors(parts[members])[0] if parts is not None and len(members) else None
    _scatter3d(ax, points[members[0]] if len(members) else np.zeros((0, 3)), class_names[c],
               colors)
  _fixed_margins(fig)
  _save(fig, path)


def render_class(path: str, clouds: np.ndarray, name: str, max_clouds: int = 10,
                 parts: np.ndarray | None = None) -> None:
  """One PNG per class: each cloud in 3-D and as three axis-aligned projections.

  clouds: [C, N, 3]; at most `max_clouds` are drawn. parts: [C, N] int global part ids,
  or None: with them every point (projections included) has its part's colour
  (`part_colors` over all C clouds) and the title lists the part ids drawn; without them
  the 3-D view is coloured by depth and the projections are black.
  """
  colors = None if parts is None else part_colors(parts)[:max_clouds]
  clouds = clouds[:max_clouds]
  fig = plt.figure(figsize=(8, 2 * len(clouds)), dpi=90)
  if parts is not None:
    fig.suptitle(f'{name}: parts {",".join(map(str, np.unique(parts[:max_clouds])))}',
                 fontsize=8)
  for i, cloud in enumerate(clouds):
    _scatter3d(fig.add_subplot(len(clouds), 4, 4 * i + 1, projection='3d'), cloud,
               f'{name} #{i}', None if colors is None else colors[i])
    for j, (a, b) in enumerate([(0, 1), (0, 2), (1, 2)]):
      ax = fig.add_subplot(len(clouds), 4, 4 * i + j + 2)
      ax.scatter(cloud[:, a], cloud[:, b], s=1, c='k' if colors is None else colors[i],
                 linewidths=0)
      ax.set_xlim(-1, 1), ax.set_ylim(-1, 1), ax.set_aspect('equal')
      ax.set_xticks([]), ax.set_yticks([])
      ax.set_title(f'{"xyz"[a]}{"xyz"[b]}', fontsize=7)
  _fixed_margins(fig, 0.0 if parts is None else 0.15)
  _save(fig, path)


def render_set(directory: str, points: np.ndarray, labels: np.ndarray,
               class_names: Sequence[str], parts: np.ndarray | None = None) -> list[str]:
  """Renders one picture per class and then an overview (so that overview.png marks a
  finished rendering) into `directory`; returns the paths.

  points: [M, N, 3]; labels: [M]; parts: [M, N] int global part ids to colour the points
  by part, or None to colour them by depth.
  """
  os.makedirs(directory, exist_ok=True)
  paths = []
  for c, name in enumerate(class_names):
    paths.append(os.path.join(directory, f'class_{c:03d}_{safe_name(name)}.png'))
    render_class(paths[-1], points[labels == c], name,
                 parts=None if parts is None else parts[labels == c])
  paths.insert(0, os.path.join(directory, 'overview.png'))
  render_overview(paths[0], points, labels, class_names, parts)
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
