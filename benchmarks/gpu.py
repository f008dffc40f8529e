"""The device check: one command that installs, checks and times the package on an
accelerator, and always leaves a JSON file and a markdown table of what it measured.

    python benchmarks/gpu.py prepare --to .gpu --data data/modelnet10_hdf5_1024 \
        --official /path/to/bdy9527/DD3D          # here, once: what the device run needs
    python benchmarks/gpu.py run --out $OUT --carried .gpu     # on the GPU machine
    python benchmarks/gpu.py run --out /tmp/gpu_check --tiny   # the CPU rehearsal (CI)

`--data` is any ModelNet10 folder in the official h5 layout (how to cut one from the
public ModelNet40 download: docs/data.md#modelnet10-for-the-cpu-budget-runs).

`run` does these parts in order, each in its own process with its own time limit (time a
part leaves unused goes to the next), appending each measurement to `rows.jsonl` as it
is made, so a part stopped at its limit keeps what it measured; after each part it
rewrites `gpu.json` (everything) and `gpu.md` (the tables) under `--out`:

  install       the package (copied: it is pure Python) and the carried wheels
                (`pip --no-index`) into a folder of their own, without the network, then
                the versions, the devices and `nvidia-smi -L`
  correctness   `pytest -m gpu` (tests/test_gpu.py): every method's step, an evaluation
                epoch, every network's logits, the canonical pose, the sorting network,
                the point ops, each on the device against its CPU on the same inputs
  step          DD3D's outer step at 10 / 40 classes, CPC 1 / 10 / 50, 256 / 1,024 points,
                class chunk 0 / 1 / 4 (the shapes the README's CPU rows use first), with
                XLA's FLOPs and planned memory; programs compile in threads ahead of timing
  reference     the authors' PyTorch iteration (`reference_step.py`, on the same device)
                and ours, for a ratio, where `--carried` holds their code (`official/`)
  backbones     one training step of each network (`backbones.py`'s, batch 32)
  evaluation    the reference evaluation (200 epochs) of a random CPC 10 coreset by the
                main job, timed
  distillation  the main job's DD3D at ModelNet10 size, CPC 10, the paper's 400
                iterations, then its evaluation; stopped at its limit, it reports the
                iterations done and their median time

The ModelNet10-size data is `--carried`'s `modelnet10/` (`prepare` writes a float16 copy
of the official-layout folder, 30 MB) or, without it, the procedural shapes at that size.
`--tiny` shrinks every part to CPU-test sizes (and the main job to `tests/tiny.py`).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import glob
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# Seconds of the default 480 s budget, from the first H200 run (2026-12-04): XLA:GPU takes
# 30-70 s to compile one DD3D step, the main job's DD3D at ModelNet10 size 33 s for its first
# iteration and 37 s for the other 399, its evaluation 14 s.
PARTS = {'install': 20, 'correctness': 150, 'step': 80, 'reference': 45, 'backbones': 60,
         'evaluation': 30, 'distillation': 95}


def site(args) -> str:
  """Where `install` puts the package and wheels: beside --out, not in it (only a few
  files come back from a device run's output folder)."""
  return os.path.abspath(args.out).rstrip('/') + '_site'


# ----------------------------------------------------------------------- the parts

def part_install(args, emit):
  """The package (and carried wheels) into `site(args)` without the network; versions;
  devices."""
  wheels = sorted(glob.glob(os.path.join(args.carried or '', 'whl', '*.whl')))
  # The package is pure Python: copied, not built (building needs setuptools and `wheel`
  # in the interpreter's own site, which a fresh venv or the device's Python may lack).
  shutil.rmtree(os.path.join(site(args), 'dd3d_jax'), ignore_errors=True)
  shutil.copytree(os.path.join(ROOT, 'dd3d_jax'), os.path.join(site(args), 'dd3d_jax'),
                  ignore=shutil.ignore_patterns('__pycache__'))
  ok, detail = True, ''
  if wheels:
    out = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-index',
                          '--no-deps', '--no-compile', '--upgrade', '--target', site(args),
                          *wheels], capture_output=True, text=True)
    ok, detail = out.returncode == 0, (out.stderr.strip().splitlines() or [''])[-1][:300]
  emit({'what': 'pip install', 'ok': ok, 'wheels': [os.path.basename(w) for w in wheels],
        'detail': detail})
  code = ('import json, sys, jax, jaxlib, flax, optax, numpy, chex, orbax.checkpoint, '
          'ml_collections, dd3d_jax\n'
          'v = {m.__name__: getattr(m, "__version__", "?") for m in '
          '(jax, jaxlib, flax, optax, numpy, chex, ml_collections)}\n'
          'v["python"] = sys.version.split()[0]\n'
          'v["dd3d_jax from"] = dd3d_jax.__file__\n'
          'v["devices"] = [f"{d.platform}:{d.device_kind}" for d in jax.devices()]\n'
          'v["backend"] = jax.default_backend()\n'
          'print(json.dumps(v))')
  out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                       env=child_env(args), cwd='/')
  versions = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else {
      'import error': (out.stderr.strip().splitlines() or ['?'])[-1]}
  try:
    import torch  # noqa: F401 (only its version and CUDA are read)
    versions['torch'] = f'{torch.__version__} (CUDA {torch.cuda.is_available()})'
  except ImportError:
    versions['torch'] = 'absent'
  smi = shutil.which('nvidia-smi')
  if smi:
    versions['nvidia-smi'] = subprocess.run([smi, '-L'], capture_output=True,
                                            text=True).stdout.strip()
  versions['host'] = f'{platform.machine()}, {os.cpu_count()} CPUs'
  emit({'what': 'versions', **versions})
  print(json.dumps(versions, indent=1))


def part_correctness(args, emit):
  """`pytest -m gpu`: each check writes its row (DD3D_GPU_REPORT); failures get one too."""
  report = os.path.join(args.out, 'rows.jsonl')
  junit = os.path.join('/tmp', f'dd3d_gpu_junit_{os.getpid()}.xml')
  workers = [] if args.tiny else ['-n', '6', '--dist', 'load']
  cmd = [sys.executable, '-m', 'pytest', '-q', '-m', 'gpu', 'tests/test_gpu.py', '-rfEs',
         '-p', 'no:cacheprovider', f'--junitxml={junit}', *workers]
  # Kernel autotuning makes most of XLA:GPU's compile time; any kernel must pass.
  flags = f'{os.environ.get("XLA_FLAGS", "")} --xla_gpu_autotune_level=0'.strip()
  env = {**child_env(args), 'DD3D_GPU_REPORT': report, 'XLA_FLAGS': flags}
  sys.stdout.flush()
  code = subprocess.run(cmd, cwd=ROOT, env=env).returncode
  import xml.etree.ElementTree as ET
  try:
    suite = ET.parse(junit).getroot()
  except (OSError, ET.ParseError):
    emit({'check': 'pytest', 'passed': False, 'error': f'pytest exit {code}, no report'})
    return
  for case in suite.iter('testcase'):
    bad = case.find('failure') if case.find('failure') is not None else case.find('error')
    if bad is not None:
      emit({'check': case.get('name'), 'passed': False,
            'error': (bad.get('message') or '')[:300]})
  totals = suite if suite.tag == 'testsuite' else suite.find('testsuite')
  emit({'check': 'pytest', 'passed': code == 0,
        **{k: int(totals.get(k, 0)) for k in ('tests', 'failures', 'errors', 'skipped')},
        'seconds': float(totals.get('time', 0))})


def step_grid(tiny: bool):
  """(classes, points, cpc, chunk) in the order they are measured: the README's CPU rows
  first, every chunk of a shape together."""
  if tiny:
    shapes = [(3, 32, 2)]
    return [(k, n, c, chunk) for k, n, c in shapes for chunk in (0, 1, 2)]
  shapes = [(10, 1024, 1), (40, 256, 1), (10, 1024, 10), (40, 256, 10), (10, 256, 1),
            (40, 1024, 1), (10, 1024, 50), (40, 256, 50), (10, 256, 10), (40, 1024, 10),
            (10, 256, 50), (40, 1024, 50)]
  return [(k, n, c, chunk) for k, n, c in shapes for chunk in (0, 1, 4)]


def part_step(args, emit):
  """DD3D's outer step over `step_grid`, compiled in threads ahead, timed one by one."""
  import jax
  import numpy as np

  sys.path.insert(0, HERE)
  import step as step_bench
  from dd3d_jax import distill

  batch_real = 4 if args.tiny else 32

  def build(k, n, cpc, chunk):
    bench = argparse.Namespace(classes=k, batch_real=batch_real, points=n, loops=[10, 1],
                               rotated=False)
    d = step_bench.make_distiller(bench, cpc, chunk)
    inputs = step_bench.inputs(d)
    fn = jax.jit(functools.partial(distill.outer_step, d), donate_argnums=(0, 1))
    t = time.perf_counter()
    compiled = fn.lower(*inputs, jax.random.key(0)).compile()
    return d, inputs, compiled, time.perf_counter() - t

  grid = step_grid(args.tiny)
  flops = {}
  with concurrent.futures.ThreadPoolExecutor(max_workers=2 if args.tiny else 8) as pool:
    futures = [pool.submit(build, *cell) for cell in grid]
    for (k, n, cpc, chunk), future in zip(grid, futures):
      row = {'classes': k, 'points': n, 'cpc': cpc, 'chunk': chunk, 'batch_real': batch_real}
      try:
        d, (gen, opt, net, real), compiled, compile_s = future.result()
        times = []
        for i in range(6):
          t = time.perf_counter()
          gen, opt, loss = compiled(gen, opt, net, real, jax.random.key(i))
          loss.block_until_ready()
          times.append(time.perf_counter() - t)
        memory = compiled.memory_analysis()
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, list) else cost
        if chunk == 0:  # loop-free: XLA counts every class (a loop body is counted once)
          flops[k, n, cpc] = float(cost.get('flops', float('nan')))
        row.update(step_ms=1e3 * float(np.median(times[1:])), compile_s=compile_s,
                   gflop=flops.get((k, n, cpc), float('nan')) / 1e9,
                   temp_mb=memory.temp_size_in_bytes / 2**20 if memory else None,
                   args_mb=memory.argument_size_in_bytes / 2**20 if memory else None,
                   loss_finite=bool(np.isfinite(float(loss))))
      except Exception as e:  # one shape that fails (memory) must not stop the others
        row['error'] = f'{type(e).__name__}: {str(e).splitlines()[0][:200]}'
      emit(row)


def part_reference(args, emit):
  """The authors' iteration on this device next to ours (same shapes), for a ratio."""
  official = os.path.join(args.carried or '', 'official')
  if not os.path.isfile(os.path.join(official, 'gm_inr.py')):
    emit({'skipped': f'no authors\' code at {official} (prepare --official)'})
    return
  try:
    import torch
  except ImportError:
    emit({'skipped': 'torch is not installed'})
    return
  os.environ['DD3D_OFFICIAL_DIR'] = official
  sys.path.insert(0, HERE)
  import reference_step
  import step as step_bench
  from dd3d_jax.devices import resolve_class_chunk
  device = 'cuda' if torch.cuda.is_available() else 'cpu'
  shapes = [(3, 64, 4)] if args.tiny else [(40, 256, 32), (10, 1024, 32)]
  for k, n, batch_real in shapes:
    bench = argparse.Namespace(classes=k, points=n, batch_real=batch_real, iterations=1,
                               loops=[10, 1], device=device, rotated=False, steps=3)
    row = {'classes': k, 'points': n, 'cpc': 1, 'loops': '10/1', 'torch_device': device}
    try:
      ref = reference_step.reference(bench)
      row.update(reference_step_s=ref['step_s'], reference_iteration_s=ref['iteration_s'])
      d = step_bench.make_distiller(bench, 1, resolve_class_chunk(-1))
      row.update(ours_step_s=step_bench.time_step(d, bench)['step_s'],
                 ours_iteration_s=step_bench.time_iterations(d, bench))
      row.update(step_ratio=row['reference_step_s'] / row['ours_step_s'],
                 iteration_ratio=row['reference_iteration_s'] / row['ours_iteration_s'])
    except Exception as e:
      row['error'] = f'{type(e).__name__}: {str(e).splitlines()[0][:200]}'
    emit(row)


def part_backbones(args, emit):
  """One training step of every registered network (`backbones.measure`), all measured
  at once in threads (XLA:GPU compiles each for tens of seconds); the step times of
  networks timed side by side are upper bounds."""
  sys.path.insert(0, HERE)
  import backbones
  from dd3d_jax import registry
  batch, points = (2, 64) if args.tiny else (32, 1024)

  def measure(name):
    try:
      return backbones.measure(name, batch, points, steps=3)
    except Exception as e:
      return {'net': name, 'error': f'{type(e).__name__}: {str(e).splitlines()[0][:200]}'}

  names = registry.names('networks')
  with concurrent.futures.ThreadPoolExecutor(max_workers=len(names)) as pool:
    for row in pool.map(measure, names):
      emit(row)


def main_job_command(args, workdir: str, methods: str, iterations: int | None) -> list[str]:
  """The README's main job on the ModelNet10-size data (or tests/tiny.py with --tiny)."""
  config = 'tests/tiny.py' if args.tiny else 'configs/modelnet10.py:cpc=10'
  cmd = [sys.executable, '-m', 'dd3d_jax.main', f'--config={config}', f'--workdir={workdir}',
         f'--config.eval.methods={methods}']
  if args.tiny:
    return cmd
  data = os.path.join(args.carried or '', 'modelnet10')
  if os.path.isdir(data):
    cmd.append(f'--config.data.path={os.path.abspath(data)}')
  else:  # the procedural shapes at ModelNet10's size
    cmd += ['--config.data.format=shapes', '--config.data.shapes.num_train_per_class=399',
            '--config.data.shapes.num_test_per_class=91']
  if iterations:
    cmd.append(f'--config.distill.iterations={iterations}')
  return cmd


def run_main_job(args, emit, name: str, methods: str, iterations: int | None):
  """Runs the main job until it ends or the part's time is nearly up; one row of what it
  did: wall time, iterations and their median seconds, the evaluation's accuracy."""
  import numpy as np
  workdir = os.path.join('/tmp', f'dd3d_gpu_{name}_{os.getpid()}')
  cmd = main_job_command(args, workdir, methods, iterations)
  t = time.perf_counter()
  sys.stdout.flush()
  try:
    code = subprocess.run(cmd, cwd=ROOT, env=child_env(args),
                          timeout=max(5.0, args.limit - 10)).returncode
    status = 'finished' if code == 0 else f'exit {code}'
  except subprocess.TimeoutExpired:
    status = 'stopped at the part limit'
  row = {'job': name, 'status': status, 'wall_s': time.perf_counter() - t,
         'command': ' '.join(['python', *cmd[1:]])}
  metrics = os.path.join(workdir, 'metrics.jsonl')
  if os.path.exists(metrics):
    with open(metrics) as f:
      lines = [json.loads(x) for x in f if x.strip().startswith('{')]
    steps = [m['seconds'] for m in lines if 'iteration' in m and not m.get('compiled')]
    first = [m['seconds'] for m in lines if m.get('compiled')]
    if steps or first:
      row.update(iterations_done=len(steps) + len(first),
                 first_iteration_s=first[0] if first else None,
                 median_iteration_s=float(np.median(steps)) if steps else None)
  for path in sorted(glob.glob(os.path.join(workdir, 'runs', '*', '*.json'))):
    with open(path) as f:
      result = json.load(f)
    row.update({f'{os.path.basename(os.path.dirname(path))}_{k}': result[k]
                for k in ('final_oa', 'best_oa', 'seconds') if k in result})
  emit(row)


def part_evaluation(args, emit):
  run_main_job(args, emit, 'evaluation', 'random', None)


def part_distillation(args, emit):
  run_main_job(args, emit, 'distillation', 'dd3d', None if args.tiny else 400)


# ----------------------------------------------------------------------- the driver

def child_env(args) -> dict:
  """Children import the installed package first; the GPU is shared, not preallocated."""
  path = [p for p in (site(args) if os.path.isdir(site(args)) else None, ROOT,
                      os.environ.get('PYTHONPATH')) if p]
  return {**os.environ, 'PYTHONPATH': os.pathsep.join(path), 'PYTHONUNBUFFERED': '1',
          'XLA_PYTHON_CLIENT_PREALLOCATE': 'false'}


def read_rows(out: str) -> list[dict]:
  path = os.path.join(out, 'rows.jsonl')
  if not os.path.exists(path):
    return []
  with open(path) as f:  # the tests' own rows (DD3D_GPU_REPORT) name no part
    return [{'part': 'correctness', **json.loads(line)} for line in f
            if line.strip().endswith('}')]


def fmt(value, digits=2) -> str:
  """Fixed `digits` decimals; digits=None: 3 significant digits."""
  if value is None:
    return ''
  if isinstance(value, float):
    return f'{value:.3g}' if digits is None else f'{value:,.{digits}f}'
  return str(value)


def markdown(summary: dict) -> str:
  """The tables of gpu.md from everything measured so far."""
  rows = summary['rows']
  by = lambda part: [r for r in rows if r.get('part') == part]  # noqa: E731
  lines = [f'# Device check, {summary["started"]}', '',
           f'`{summary["command"]}`', '', '| part | status | seconds | limit |',
           '|---|---|---:|---:|']
  lines += [f'| {name} | {p["status"]} | {p["seconds"]:.0f} | {p["limit"]:.0f} |'
            for name, p in summary['parts'].items()]
  versions = next((r for r in by('install') if r.get('what') == 'versions'), None)
  if versions:
    lines += ['', '## Versions', ''] + [f'- {k}: {v}' for k, v in versions.items()
                                          if k not in ('what', 'part')]
  checks = [r for r in by('correctness') if r.get('check') != 'pytest']
  if checks or by('correctness'):
    lines += ['', '## Correctness: device against its CPU, same inputs', '',
              '| check | measured | tolerance | unit | passed |', '|---|---:|---:|---|---|']
    lines += [f'| {r["check"]} | {fmt(r.get("measured"), None) if "measured" in r else r.get("error", "")} '
              f'| {fmt(r.get("tolerance"), None)} | {r.get("unit", "")} | '
              f'{"yes" if r.get("passed") else "**NO**"} |' for r in checks]
    total = next((r for r in by('correctness') if r.get('check') == 'pytest'), None)
    if total:
      lines += ['', f'pytest: {total.get("tests")} tests, {total.get("failures")} failed, '
                f'{total.get("errors")} errors, {total.get("skipped")} skipped '
                f'({fmt(total.get("seconds"), 0)} s)']
  steps = by('step')
  if steps:
    lines += ['', '## DD3D outer step (random data; batch_real real clouds per class)', '',
              '| classes | points | CPC | chunk | step ms | compile s | XLA GFLOP | TFLOP/s | '
              'XLA temp MB | note |', '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|']
    best = {}
    for r in steps:
      if 'step_ms' in r:
        key = (r['classes'], r['points'], r['cpc'])
        best[key] = min(best.get(key, float('inf')), r['step_ms'])
    for r in steps:
      key = (r['classes'], r['points'], r['cpc'])
      rate = r.get('gflop', float('nan')) / r['step_ms'] if 'step_ms' in r else None
      note = r.get('error', '') or ('**best**' if r.get('step_ms') == best.get(key) else '')
      lines.append(f'| {r["classes"]} | {r["points"]} | {r["cpc"]} | {r["chunk"]} | '
                   f'{fmt(r.get("step_ms"), 1)} | {fmt(r.get("compile_s"), 1)} | '
                   f'{fmt(r.get("gflop"), 1)} | {fmt(rate, 2)} | {fmt(r.get("temp_mb"), 0)} | '
                   f'{note} |')
  refs = by('reference')
  if refs:
    lines += ['', '## Against the authors\' PyTorch code on the same device (CPC 1, loops '
              '10/1)', '', '| classes | points | reference step s | ours step s | ratio | '
              'reference iteration s | ours iteration s | ratio | note |',
              '|---:|---:|---:|---:|---:|---:|---:|---:|---|']
    lines += [f'| {r.get("classes", "")} | {r.get("points", "")} | '
              f'{fmt(r.get("reference_step_s"), 3)} | {fmt(r.get("ours_step_s"), 3)} | '
              f'{fmt(r.get("step_ratio"))} | {fmt(r.get("reference_iteration_s"), 2)} | '
              f'{fmt(r.get("ours_iteration_s"), 2)} | {fmt(r.get("iteration_ratio"))} | '
              f'{r.get("error", r.get("skipped", ""))} |' for r in refs]
  nets = by('backbones')
  if nets:
    lines += ['', '## One training step per network', '',
              '| network | params | step ms | compile s | XLA GFLOP | note |',
              '|---|---:|---:|---:|---:|---|']
    lines += [f'| {r["net"]} | {fmt(r.get("params"))} | {fmt(1e3 * r["step_s"] if "step_s" in r else None, 1)} | '
              f'{fmt(r.get("compile_s"), 1)} | {fmt(r.get("gflop"), 1)} | {r.get("error", "")} |'
              for r in nets]
  jobs = by('evaluation') + by('distillation')
  if jobs:
    lines += ['', '## The main job, wall time', '']
    for r in jobs:
      facts = ', '.join(f'{k} {fmt(v)}' for k, v in r.items()
                        if k not in ('part', 'job', 'command'))
      lines += [f'- **{r["job"]}**: {facts}', f'  `{r.get("command", "")}`']
  return '\n'.join(lines) + '\n'


def write_summary(args, summary: dict) -> None:
  summary['rows'] = read_rows(args.out)
  for name, text in (('gpu.json', json.dumps(summary, indent=1)),
                     ('gpu.md', markdown(summary))):
    tmp = os.path.join(args.out, name + '.tmp')
    with open(tmp, 'w') as f:
      f.write(text)
    os.replace(tmp, os.path.join(args.out, name))


def run(args) -> None:
  parts = [p for p in PARTS if not args.parts or p in args.parts]
  fixed = {}
  for item in args.limit:
    name, _, seconds = item.partition('=')
    if name not in PARTS or not seconds.replace('.', '', 1).isdigit():
      print(f'error: --limit {item!r}: use PART=SECONDS with PART one of {", ".join(PARTS)}.',
            file=sys.stderr)
      sys.exit(2)
    fixed[name] = float(seconds)
  os.makedirs(args.out, exist_ok=True)
  for stale in ('rows.jsonl', 'gpu.json', 'gpu.md', 'gpu.log'):
    if os.path.exists(os.path.join(args.out, stale)):
      os.remove(os.path.join(args.out, stale))
  planned = {p: PARTS[p] * args.budget / sum(PARTS[q] for q in parts) for p in parts}
  start = time.monotonic()
  summary = {'started': time.strftime('%Y-%m-%d %H:%M:%S %Z'),
             'command': ' '.join(['python', 'benchmarks/gpu.py', *sys.argv[1:]]),
             'budget_s': args.budget, 'parts': {}}
  for i, name in enumerate(parts):
    spent = time.monotonic() - start
    slack = sum(planned[p] for p in parts[:i]) - spent
    limit = max(5.0, min(planned[name] + max(0.0, slack), args.budget - spent))
    limit = fixed.get(name, limit)
    t = time.monotonic()
    cmd = [sys.executable, os.path.abspath(__file__), 'part', name, '--out', args.out,
           '--limit', str(limit)] + (['--tiny'] if args.tiny else []) + (
               ['--carried', args.carried] if args.carried else [])
    with open(os.path.join(args.out, 'gpu.log'), 'a') as log:
      log.write(f'\n===== {name} (limit {limit:.0f} s) =====\n')
      log.flush()
      child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                               env=child_env(args), start_new_session=True)
      try:
        code = child.wait(timeout=limit)
        status = 'done' if code == 0 else f'failed (exit {code})'
      except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        status = 'stopped at its limit'
    summary['parts'][name] = {'status': status, 'seconds': time.monotonic() - t,
                              'limit': limit}
    write_summary(args, summary)
    print(f'{name}: {status} in {time.monotonic() - t:.0f} s', flush=True)
  print(markdown(summary))


def part(args) -> None:
  """One part in this process: its rows go to rows.jsonl as they are measured."""
  path = os.path.join(args.out, 'rows.jsonl')

  def emit(row: dict) -> None:
    with open(path, 'a') as f:
      f.write(json.dumps({'part': args.name, **row}, default=str) + '\n')

  globals()[f'part_{args.name}'](args, emit)


def prepare(args) -> None:
  """What the device run needs beside the tree, in one folder to carry: the authors'
  code, a float16 copy of a ModelNet10 folder (official layout), ml_collections' wheel."""
  os.makedirs(args.to, exist_ok=True)
  if args.official:
    dest = os.path.join(args.to, 'official')
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(args.official, dest, ignore=shutil.ignore_patterns('.git', '*.h5', '*.pt'))
  if args.data:
    import h5py
    import numpy as np
    dest = os.path.join(args.to, 'modelnet10')
    os.makedirs(dest, exist_ok=True)
    for name in os.listdir(args.data):
      source = os.path.join(args.data, name)
      if name.endswith('.h5'):
        with h5py.File(source) as f, h5py.File(os.path.join(dest, name), 'w') as g:
          g['data'] = np.asarray(f['data'], np.float16)
          g['label'] = np.asarray(f['label'])
      elif name.endswith('.txt'):
        shutil.copy(source, dest)
  subprocess.run([sys.executable, '-m', 'pip', 'download', '-q', '--no-deps',
                  '--only-binary=:all:', '-d', os.path.join(args.to, 'whl'), 'ml_collections'],
                 check=True)
  total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(args.to) for f in fs)
  print(f'{args.to}: {total / 2**20:.1f} MiB to carry')


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  sub = parser.add_subparsers(dest='command', required=True)
  p = sub.add_parser('run', help='every part, in order, within --budget seconds')
  p.add_argument('--out', required=True, help='folder for gpu.json, gpu.md, rows.jsonl, gpu.log')
  p.add_argument('--budget', type=float, default=480.0, help='seconds for all parts together')
  p.add_argument('--carried', help='the folder `prepare` made (official/, modelnet10/, whl/)')
  p.add_argument('--parts', nargs='*', choices=list(PARTS), help='only these (in order)')
  p.add_argument('--limit', action='append', default=[], metavar='PART=SECONDS',
                 help="a part's own time limit, instead of its share of --budget")
  p.add_argument('--tiny', action='store_true', help='CPU-test sizes (the rehearsal)')
  p = sub.add_parser('part', help=argparse.SUPPRESS)
  p.add_argument('name', choices=list(PARTS))
  p.add_argument('--out', required=True)
  p.add_argument('--limit', type=float, required=True)
  p.add_argument('--carried')
  p.add_argument('--tiny', action='store_true')
  p = sub.add_parser('prepare', help='build the folder to carry to the device machine')
  p.add_argument('--to', required=True)
  p.add_argument('--data', help='a ModelNet10 folder in the official h5 layout')
  p.add_argument('--official', help='a checkout of bdy9527/DD3D')
  args = parser.parse_args()
  {'run': run, 'part': part, 'prepare': prepare}[args.command](args)


if __name__ == '__main__':
  main()
