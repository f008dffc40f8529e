"""Several processes (hosts): when to join JAX's distributed runtime, and a job of two
processes that equals the job of one with as many devices."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from dd3d_jax import devices
from dd3d_jax.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize('environ, expected', [
    ({}, None),                                                  # a laptop, one VM
    ({'SLURM_JOB_ID': '7', 'SLURM_NTASKS': '1'}, None),          # one task of SLURM
    ({'SLURM_JOB_ID': '7', 'SLURM_NTASKS': '16'}, {}),           # JAX reads SLURM itself
    ({'TPU_WORKER_HOSTNAMES': 'host0'}, None),                   # a single-host TPU VM
    ({'TPU_WORKER_HOSTNAMES': 'host0,host1,host2,host3'}, {}),   # a TPU slice of 4 hosts
    ({'MEGASCALE_COORDINATOR_ADDRESS': '10.0.0.2'}, {}),
    ({'OMPI_COMM_WORLD_SIZE': '8'}, {}),
    ({'JAX_COORDINATOR_ADDRESS': '10.0.0.2:1234', 'JAX_NUM_PROCESSES': '4',
      'JAX_PROCESS_ID': '3'},
     {'coordinator_address': '10.0.0.2:1234', 'num_processes': 4, 'process_id': 3}),
])
def test_the_environment_names_a_job_of_several_processes_or_none(environ, expected):
  assert devices.coordinator(environ) == expected


@pytest.mark.parametrize('environ', [
    {'JAX_COORDINATOR_ADDRESS': 'h:1'},
    {'JAX_COORDINATOR_ADDRESS': 'h:1', 'JAX_NUM_PROCESSES': 'two', 'JAX_PROCESS_ID': '0'},
    {'JAX_COORDINATOR_ADDRESS': 'h:1', 'JAX_NUM_PROCESSES': '2', 'JAX_PROCESS_ID': '2'},
])
def test_a_coordinator_without_a_process_count_and_id_is_one_line(environ):
  with pytest.raises(ConfigError, match=r'JAX_NUM_PROCESSES .* set both on every host'):
    devices.coordinator(environ)


def test_one_process_joins_nothing_and_writes():
  devices.initialize({})
  assert devices.is_writer()


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def _job(workdir, processes: int, devices_each: int, methods: str):
  flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices_each}"
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'XLA_FLAGS': flags}
  cmd = [sys.executable, '-m', 'dd3d_jax.main', '--config=tests/tiny.py', f'--workdir={workdir}',
         f'--config.eval.methods={methods}', '--config.methods.sadm.iterations=3']
  port = _free_port()
  procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**env, **({} if processes == 1 else {
                                'JAX_COORDINATOR_ADDRESS': f'localhost:{port}',
                                'JAX_NUM_PROCESSES': str(processes), 'JAX_PROCESS_ID': str(i)})})
           for i in range(processes)]
  outs = [p.communicate(timeout=900)[0] for p in procs]
  assert all(p.returncode == 0 for p in procs), '\n'.join(o[-3000:] for o in outs)
  return outs


@pytest.mark.slow  # about 2 minutes on 2 cores
def test_two_processes_of_two_devices_give_the_job_of_one_process_of_four(tmp_path):
  methods = 'random,herding,gm,dm,sadm,tm,dd3d'
  one, two = tmp_path / 'one', tmp_path / 'two'
  _job(one, 1, 4, methods)
  outs = _job(two, 2, 2, methods)
  assert 'results' in outs[0] and 'results' not in outs[1]  # process 0 speaks for the job
  a, b = (json.loads((w / 'results.json').read_text()) for w in (one, two))
  for m in methods.split(','):
    assert a[m]['runs'][0]['final_oa'] == b[m]['runs'][0]['final_oa'], m
    if m != 'random':
      with np.load(one / 'sets' / f'{m}_0.npz') as x, np.load(two / 'sets' / f'{m}_0.npz') as y:
        np.testing.assert_allclose(y['points'], x['points'], atol=1e-2)  # float32, 3 steps
  lines = [(w / 'metrics.jsonl').read_text().splitlines() for w in (one, two)]
  assert len(lines[1]) == len(lines[0])  # written once, by process 0
  ckpt = two / 'checkpoints' / 'dd3d_0'
  assert sorted(os.listdir(ckpt)) == sorted(os.listdir(one / 'checkpoints' / 'dd3d_0'))
  _job(two, 2, 2, methods)  # the finished job of two processes resumes to its results
  assert json.loads((two / 'results.json').read_text()) == b


def test_main_with_a_coordinator_but_no_process_id_is_one_line_and_writes_nothing(tmp_path):
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'JAX_COORDINATOR_ADDRESS': 'localhost:1',
         'JAX_NUM_PROCESSES': '2'}
  env.pop('JAX_PROCESS_ID', None)
  out = subprocess.run([sys.executable, '-m', 'dd3d_jax.main', '--config=tests/tiny.py',
                        f'--workdir={tmp_path / "w"}'], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
  assert out.returncode == 2 and out.stderr.count('\n') == 1, out.stderr
  assert out.stderr.startswith('error: JAX_COORDINATOR_ADDRESS is set, but JAX_NUM_PROCESSES')
  assert not (tmp_path / 'w').exists()
