"""The paper's tables from run folders: `python -m dd3d_jax.tables WORKDIR [WORKDIR ...]`.

Each workdir holds `plan.json` (written when its run starts) and one
`runs/<method>/d<D>_<backbone>_s<S>.json` per finished evaluation run, so a
partly finished run gives a partial table. Rows are (dataset, setting, CPC);
workdirs with the same row are pooled. Columns are the methods of the plans,
ordered by method type with the full-data upper bound last.

    python -m dd3d_jax.tables runs/mn10_cpc1 runs/mn10_cpc1_seed2 --format latex

`--table 3` prints the Table 3 layout instead: rows (dataset, setting, CPC, method),
columns the evaluation backbones of the plans (`eval.backbones`), PointNet first.

A missing or damaged input stops with one line on stderr and status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import sys
from typing import Sequence

import numpy as np

from dd3d_jax.errors import UserError

# Column order by method type; other types follow alphabetically, then 'full' (the upper bound).
TYPE_ORDER = ('random', 'herding', 'kcenter', 'gm', 'dm', 'tm', 'sadm', 'dd3d')
CAPTION = ("Final-epoch OA % (mean ± std over runs; best-epoch OA, the paper's protocol, "
           'in brackets). Backbone: {backbone}.')
_NUMBER = (int, float)
PLAN_KEYS = {'dataset': str, 'rotated': bool, 'cpc': int, 'methods': list, 'types': dict,
             'backbones': list, 'runs_per_method': dict}
RUN_KEYS = {'method': str, 'type': str, 'backbone': str, 'distill': int, 'eval': int,
            'final_oa': _NUMBER, 'best_oa': _NUMBER, 'curve': list, 'seconds': _NUMBER}
_LATEX_SPECIAL = {'\\': r'\textbackslash{}', '&': r'\&', '%': r'\%', '$': r'\$', '#': r'\#',
                  '_': r'\_', '{': r'\{', '}': r'\}', '~': r'\textasciitilde{}',
                  '^': r'\textasciicircum{}'}


@dataclasses.dataclass(frozen=True)
class Cell:
  """One method in one row: its finished runs and how many the plans expect.

  Attributes:
    type: the method type (dd3d, gm, ..., full).
    runs: the run files' contents, one dict per finished evaluation run.
    expected: the runs the row's plans expect, summed over its workdirs that list the method.
  """
  type: str
  runs: list[dict]
  expected: int


@dataclasses.dataclass(frozen=True)
class Row:
  """One table row: a (dataset, rotated, cpc) key pooled over one or more workdirs.

  Attributes:
    dataset: dataset name from the plans.
    rotated: whether the row is the rotated setting.
    cpc: clouds per class.
    backbone: the evaluation network whose runs the cells hold.
    workdirs: the workdirs pooled into this row, in the order given.
    cells: method name -> Cell, for the methods this row's plans list.
  """
  dataset: str
  rotated: bool
  cpc: int
  backbone: str
  workdirs: tuple[str, ...]
  cells: dict[str, Cell]

  @property
  def setting(self) -> str:
    return 'rotated' if self.rotated else 'aligned'


def _is(value, kind) -> bool:
  """isinstance, except that a bool is not a number."""
  return isinstance(value, kind) and isinstance(value, bool) == (kind is bool)


def _load(path: str, keys: dict, fix: str) -> dict:
  """Reads a JSON object and checks that it has `keys` with values of their types."""
  try:
    with open(path) as f:
      obj = json.load(f)
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
    raise UserError(f'{path} cannot be read as JSON ({e}); {fix}') from e
  if not isinstance(obj, dict):
    raise UserError(f'{path} does not hold a JSON object; {fix}')
  for key, kind in keys.items():
    if key not in obj:
      raise UserError(f'{path} lacks the key {key!r}; {fix}')
    if not _is(obj[key], kind):
      raise UserError(f'{path}: {key!r} has the wrong type ({obj[key]!r}); {fix}')
  return obj


def read_plan(workdir: str) -> dict:
  """The validated `plan.json` of a workdir."""
  if not os.path.isdir(workdir):
    raise UserError(f'workdir {workdir} does not exist or is not a folder; pass the --workdir '
                    'of a dd3d_jax.main run.')
  path = os.path.join(workdir, 'plan.json')
  if not os.path.exists(path):
    raise UserError(f'{workdir} has no plan.json: it is not a dd3d_jax workdir or its run has '
                    'not started.')
  fix = 'delete it and re-run the pipeline on that workdir to write it again.'
  plan = _load(path, PLAN_KEYS, fix)
  for name in plan['methods']:
    for table in ('types', 'runs_per_method'):
      value = plan[table].get(name) if isinstance(name, str) else None
      if not _is(value, str if table == 'types' else int):
        raise UserError(f'{path}: {table!r} has no valid entry for method {name!r}; {fix}')
  return plan


def read_runs(workdir: str, method: str, backbone: str) -> list[dict]:
  """The finished evaluation runs of one method and backbone, sorted by file name."""
  fix = 'delete it and re-run the pipeline on that workdir to redo that evaluation run.'
  runs = [_load(p, RUN_KEYS, fix)
          for p in sorted(glob.glob(os.path.join(glob.escape(workdir), 'runs',
                                                 glob.escape(method), '*.json')))]
  return [r for r in runs if r['backbone'] == backbone]


def _column_key(name: str, kind: str) -> tuple:
  rank = TYPE_ORDER.index(kind) if kind in TYPE_ORDER else len(TYPE_ORDER) + (kind == 'full')
  return rank, kind, name


def collect(workdirs: Sequence[str], backbone: str = 'pointnet') -> list[Row]:
  """Reads workdirs into table rows, sorted by dataset, aligned before rotated, then CPC.

  Workdirs whose plan does not evaluate `backbone` are left out.

  Raises:
    UserError: a workdir is missing or has no plan, a plan or run file is damaged, one
      method name has two types, or no workdir evaluates `backbone`.
  """
  plans = {w: read_plan(w) for w in dict.fromkeys(os.path.normpath(w) for w in workdirs)}
  types = {}
  for w, plan in plans.items():
    for name in plan['methods']:
      if types.setdefault(name, plan['types'][name]) != plan['types'][name]:
        raise UserError(f'method {name!r} is of type {types[name]!r} in one workdir and '
                        f'{plan["types"][name]!r} in {w}; give the two methods different names.')
  used = {w: p for w, p in plans.items() if backbone in p['backbones']}
  if not used:
    found = sorted({b for p in plans.values() for b in p['backbones']})
    raise UserError(f'no workdir evaluates backbone {backbone!r} (they have {found}); '
                    'choose one with --backbone.')
  keys = sorted({(p['dataset'], p['rotated'], p['cpc']) for p in used.values()})
  rows = []
  for key in keys:
    pooled = [w for w, p in used.items() if (p['dataset'], p['rotated'], p['cpc']) == key]
    cells = {}
    for w in pooled:
      for name in used[w]['methods']:
        cell = cells.get(name, Cell(types[name], [], 0))
        cells[name] = Cell(cell.type, cell.runs + read_runs(w, name, backbone),
                           cell.expected + used[w]['runs_per_method'][name])
    rows.append(Row(*key, backbone, tuple(pooled), cells))
  return rows


def columns(rows: Sequence[Row]) -> list[str]:
  """Method names of all rows, ordered by type (TYPE_ORDER, others, 'full'), then name."""
  types = {name: cell.type for row in rows for name, cell in row.cells.items()}
  return sorted(types, key=lambda name: _column_key(name, types[name]))


def _mean_final(cell: Cell) -> float:
  """The mean final-epoch OA as printed (one decimal), so printed ties are bolded together."""
  return round(float(np.mean([r['final_oa'] for r in cell.runs])), 1)


def cell_text(cell: Cell | None) -> str:
  """`mean ± std (mean best)`, with `[k/N]` when runs are missing; `—` for an unlisted method."""
  if cell is None:
    return '—'
  count = f' [{len(cell.runs)}/{cell.expected}]' if len(cell.runs) < cell.expected else ''
  if not cell.runs:
    return 'not run' + count
  final = np.array([r['final_oa'] for r in cell.runs], dtype=float)
  spread = f' ± {final.std():.1f}' if len(final) > 1 else ''
  best = np.mean([r['best_oa'] for r in cell.runs])
  return f'{final.mean():.1f}{spread} ({best:.1f}){count}'


def best_methods(row: Row) -> set[str]:
  """Methods with the row's highest mean final OA, among those with runs, 'full' excluded."""
  means = {name: _mean_final(c) for name, c in row.cells.items() if c.runs and c.type != 'full'}
  top = max(means.values(), default=None)
  return {name for name, m in means.items() if m == top}


def _latex_escape(text: str) -> str:
  return ''.join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def _aligned(lines: list[list[str]]) -> list[list[str]]:
  """Pads every column to its widest entry."""
  widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
  return [[text.ljust(w) for text, w in zip(line, widths)] for line in lines]


def render(rows: Sequence[Row], fmt: str = 'md') -> str:
  """Table 1 as GitHub markdown (`fmt='md'`) or a LaTeX booktabs tabular (`fmt='latex'`).

  The caption goes above the table and a note per pooled row below it.
  """
  if fmt not in ('md', 'latex'):
    raise ValueError(f'unknown format {fmt!r}; use md or latex.')
  names = columns(rows)
  header = ['dataset', 'setting', 'CPC', *names]
  body = []
  for row in rows:
    best = best_methods(row)
    texts = []
    for name in names:
      text = cell_text(row.cells.get(name))
      if fmt == 'latex':
        text = text.replace('±', r'$\pm$').replace('—', '--')
      if name in best:
        text = rf'\textbf{{{text}}}' if fmt == 'latex' else f'**{text}**'
      texts.append(text)
    body.append([row.dataset, row.setting, str(row.cpc), *texts])
  caption = CAPTION.format(backbone=', '.join(sorted({r.backbone for r in rows})))
  notes = [f'{r.dataset} {r.setting} CPC {r.cpc}: pooled from {len(r.workdirs)} workdirs'
           for r in rows if len(r.workdirs) > 1]
  if fmt == 'md':
    header, rule, *body = _aligned([header, ['---'] * 2 + ['---:'] * (len(header) - 2), *body])
    table = ['| ' + ' | '.join(line) + ' |' for line in (header, rule, *body)]
    return '\n'.join([caption, '', *table, *([''] + notes if notes else [])])
  header = [_latex_escape(h) for h in header]
  body = [[_latex_escape(t) for t in line[:2]] + line[2:] for line in body]
  header, *body = _aligned([header, *body])
  return '\n'.join([f'% {caption}', r'\begin{tabular}{ll' + 'r' * (len(header) - 2) + '}',
                    r'\toprule', ' & '.join(header) + r' \\', r'\midrule',
                    *(' & '.join(line) + r' \\' for line in body), r'\bottomrule',
                    r'\end{tabular}', *(f'% {n}' for n in notes)])


def render_backbones(workdirs: Sequence[str], fmt: str = 'md') -> str:
  """Table 3: one row per (dataset, setting, CPC, method), one column per backbone;
  the best method of each (dataset, setting, CPC) and backbone in bold."""
  if fmt not in ('md', 'latex'):
    raise ValueError(f'unknown format {fmt!r}; use md or latex.')
  plans = [read_plan(w) for w in dict.fromkeys(os.path.normpath(w) for w in workdirs)]
  found = list(dict.fromkeys(b for p in plans for b in p['backbones']))
  backbones = sorted(found, key=lambda b: (b != 'pointnet', found.index(b)))
  by_backbone = {b: {(r.dataset, r.setting, r.cpc): r for r in collect(workdirs, b)}
                 for b in backbones}
  keys = sorted({k for rows in by_backbone.values() for k in rows},
                key=lambda k: (k[0], k[1] == 'rotated', k[2]))
  header = ['dataset', 'setting', 'CPC', 'method', *backbones]
  body = []
  for key in keys:
    rows = {b: by_backbone[b].get(key) for b in backbones}
    best = {b: best_methods(r) if r else set() for b, r in rows.items()}
    names = columns([r for r in rows.values() if r])
    for name in names:
      texts = []
      for b in backbones:
        text = cell_text(rows[b].cells.get(name) if rows[b] else None)
        if fmt == 'latex':
          text = text.replace('±', r'$\pm$').replace('—', '--')
        if name in best[b]:
          text = rf'\textbf{{{text}}}' if fmt == 'latex' else f'**{text}**'
        texts.append(text)
      body.append([key[0], key[1], str(key[2]), name, *texts])
  caption = ("Final-epoch OA % per evaluation backbone (mean ± std over runs; best-epoch OA, "
             "the paper's protocol, in brackets).")
  if fmt == 'md':
    header, rule, *body = _aligned([header, ['---'] * 4 + ['---:'] * len(backbones), *body])
    return '\n'.join([caption, '', *('| ' + ' | '.join(line) + ' |'
                                      for line in (header, rule, *body))])
  header = [_latex_escape(h) for h in header]
  body = [[_latex_escape(t) for t in line[:4]] + line[4:] for line in body]
  header, *body = _aligned([header, *body])
  return '\n'.join([f'% {caption}', r'\begin{tabular}{llll' + 'r' * len(backbones) + '}',
                    r'\toprule', ' & '.join(header) + r' \\', r'\midrule',
                    *(' & '.join(line) + r' \\' for line in body), r'\bottomrule',
                    r'\end{tabular}'])


def main(argv: Sequence[str]) -> int:
  """Prints Table 1 (or 3) for the given workdirs; returns 0, or 2 after a one-line error."""
  parser = argparse.ArgumentParser(prog='python -m dd3d_jax.tables',
                                   description='Print the Table 1 or 3 layout from run folders.')
  parser.add_argument('workdirs', nargs='+', metavar='WORKDIR')
  parser.add_argument('--format', choices=('md', 'latex'), default='md')
  parser.add_argument('--backbone', default='pointnet', help='Table 1: the evaluation network')
  parser.add_argument('--table', choices=('1', '3'), default='1',
                      help='1: methods as columns; 3: backbones as columns')
  args = parser.parse_args(argv)
  try:
    text = (render(collect(args.workdirs, args.backbone), args.format) if args.table == '1'
            else render_backbones(args.workdirs, args.format))
  except UserError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  print(text)
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
