"""Property-based fuzzing of the dataset readers and of `inspect`'s command line.

Each example writes a small valid copy of one published layout (the fixtures of
test_readers), damages one or two of its files at random (random or truncated bytes,
flipped bytes, a missing file, a folder in its place; h5 and npz arrays of other kinds,
dtypes, shapes and values; text in other encodings or with edited tokens; PLY headers)
and reads it. The one contract: reading raises a UserError whose message is one line,
with no other exception and no warning, or returns a valid dataset (float32 points
within +-MAX_COORD, int32 labels and part ids in range, every class trained), which the
pipeline's preparation either refuses in one line or maps into the unit sphere.

The default profile is small and derandomized (the same examples every run); the
`slow` tests run the same properties on many more random examples.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
import zipfile

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dd3d_jax import config
from dd3d_jax import data as data_lib
from dd3d_jax.data import inspect, preprocess
from dd3d_jax.data.dataset import MAX_COORD
from dd3d_jax.errors import UserError
from tests.data import test_readers

FAST = settings(max_examples=12, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
LONG = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
NUM_POINTS = 32  # below every fixture's points per cloud


def write_npz_folder(root: str) -> str:
  folder = os.path.join(root, 'npz')
  os.makedirs(folder)
  for i, (split, labels) in enumerate((('train', [0, 1, 1]), ('test', [1, 0]))):
    np.savez(os.path.join(folder, f'{split}.npz'), points=test_readers.clouds(i, len(labels)),
             labels=np.array(labels), class_names=np.array(['a', 'b']),
             parts=np.array(labels)[:, None].repeat(test_readers.P, 1))
  return folder


def write_npz_file(root: str) -> str:
  file = os.path.join(root, 'data.npz')
  np.savez(file, train_points=test_readers.clouds(0, 3), train_labels=np.array([0, 1, 1]),
           test_points=test_readers.clouds(1, 2), test_labels=np.array([1, 0]),
           class_names=np.array(['a', 'b']))
  return file


# layout -> (writer(root) -> data.path, data.format)
LAYOUTS = {
    'modelnet40_h5': (lambda root: test_readers.write_modelnet(root)[0], 'modelnet40_h5'),
    'scanobjectnn_h5': (lambda root: test_readers.write_scanobjectnn(root)[0], 'scanobjectnn_h5'),
    'shapenetpart_h5': (lambda root: test_readers.write_shapenetpart_h5(root)[0],
                        'shapenetpart_h5'),
    'shapenetpart_txt': (lambda root: test_readers.write_shapenetpart_txt(root)[0],
                         'shapenetpart_txt'),
    'mvpnet': (lambda root: test_readers.write_mvpnet(root)[0], 'mvpnet'),
    'npz_folder': (write_npz_folder, 'npz'),
    'npz_file': (write_npz_file, 'npz'),
}

# --- corruptions ----------------------------------------------------------------------

SPECIAL_VALUES = (np.nan, np.inf, -np.inf, 3e37, -3e37, 1e300, 1e-30, 0.5, -1, 2**31,
                  2**32 + 1, 2**63, 0)
SPECIAL_TOKENS = ('nan', 'inf', '-1', '1e39', '3e37', '1e300', '0.5', '', 'x', '99999999999',
                  '\x00', '\ufeff', '../x', '"', '[', '{}', '\t\t')
DTYPES = (np.float16, np.float32, np.float64, np.int8, np.uint8, np.int32, np.int64, np.uint64,
          np.bool_, np.complex64, np.dtype('S3'), np.dtype('U3'))


@contextlib.contextmanager
def quiet():
  """Building a corruption may overflow or discard parts on purpose: no warnings then."""
  with warnings.catch_warnings(), np.errstate(all='ignore'):
    warnings.simplefilter('ignore')
    yield


def random_array(data, like: np.ndarray | None, text_dtypes: bool = True) -> np.ndarray:
  """An array of another dtype and/or shape (often the original shape)."""
  dtypes = DTYPES if text_dtypes else DTYPES[:-1]
  dtype = np.dtype(data.draw(st.sampled_from(dtypes), label='dtype'))
  shapes = [hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6)]
  if like is not None and like.ndim:
    shapes.append(st.just(like.shape))
    shapes.append(st.integers(0, like.ndim - 1).flatmap(lambda axis: st.integers(0, 9).map(
        lambda n: like.shape[:axis] + (n,) + like.shape[axis + 1:])))
  shape = data.draw(st.one_of(*shapes), label='shape')
  return data.draw(hnp.arrays(dtype, shape), label='array')


def tweak(data, original: np.ndarray, text_dtypes: bool = True) -> np.ndarray:
  """The original values, perhaps cast to another dtype or scaled, with a few set to
  special values (NaN, inf, beyond float32, negative, beyond int32, fractional)."""
  with quiet():
    array = np.array(original)
    if array.dtype.kind in 'iufcb' and data.draw(st.booleans(), label='cast'):
      dtypes = [d for d in (DTYPES if text_dtypes else DTYPES[:-1]) if np.dtype(d).kind in 'iufcb']
      array = array.astype(data.draw(st.sampled_from(dtypes), label='to dtype'))
    if array.dtype.kind in 'fc' and data.draw(st.booleans(), label='scale'):
      array = array * data.draw(st.sampled_from([1e-30, 1e-6, 1e20, 1e40]), label='factor')
    for _ in range(data.draw(st.integers(0, 3), label='specials')):
      if array.size and array.dtype.kind in 'iufcb':
        flat = array.reshape(-1)
        at = data.draw(st.integers(0, flat.size - 1), label='at')
        with contextlib.suppress(OverflowError, ValueError, TypeError):
          flat[at] = data.draw(st.sampled_from(SPECIAL_VALUES), label='value')
  return array


def corrupt_bytes(data, file: str) -> None:
  with open(file, 'rb') as f:
    content = f.read()
  kind = data.draw(st.sampled_from(['truncate', 'random', 'flip', 'empty', 'delete', 'folder']),
                   label='bytes')
  if kind == 'delete':
    os.remove(file)
    return
  if kind == 'folder':
    os.remove(file)
    os.makedirs(file)
    return
  if kind == 'truncate':
    content = content[:data.draw(st.integers(0, max(len(content) - 1, 0)), label='length')]
  elif kind == 'random':
    content = data.draw(st.binary(max_size=2048), label='random bytes')
  elif kind == 'empty':
    content = b''
  else:
    content = bytearray(content)
    for _ in range(data.draw(st.integers(1, 8), label='flips')):
      if content:
        content[data.draw(st.integers(0, len(content) - 1), label='at')] = data.draw(
            st.integers(0, 255), label='byte')
  with open(file, 'wb') as f:
    f.write(bytes(content))


def corrupt_h5(data, file: str) -> None:
  with h5py.File(file, 'r') as f:
    keys = sorted(f)
  key = data.draw(st.sampled_from(sorted(set(keys) | {'data', 'label', 'pid'})), label='key')
  kind = data.draw(st.sampled_from(['array', 'tweak', 'group', 'delete', 'strings']),
                   label='h5 change')
  with h5py.File(file, 'a') as f:
    original = f[key][()] if key in f and isinstance(f[key], h5py.Dataset) else None
    if key in f:
      del f[key]
    if kind == 'group':
      f.create_group(key)
    elif kind == 'strings':
      f.create_dataset(key, data=np.array(['a', 'b'], dtype=object), dtype=h5py.string_dtype())
    elif kind == 'array' or (kind == 'tweak' and original is None):
      f[key] = random_array(data, original, text_dtypes=False)
    elif kind == 'tweak':
      f[key] = tweak(data, original, text_dtypes=False)


def corrupt_text(data, file: str) -> None:
  with open(file, 'rb') as f:
    text = f.read().decode('utf-8', 'replace')
  kind = data.draw(st.sampled_from(['random', 'encoding', 'edit']), label='text change')
  if kind == 'random':
    content = data.draw(st.text(max_size=200), label='text').encode('utf-8')
  elif kind == 'encoding':
    encoding = data.draw(st.sampled_from(['utf-16', 'utf-32', 'cp1252', 'latin-1']),
                         label='encoding')
    content = (text + '\u00e9\n').encode(encoding, 'replace')
  else:
    lines = text.splitlines()
    for _ in range(data.draw(st.integers(1, 3), label='edits')):
      if not lines:
        break
      i = data.draw(st.integers(0, len(lines) - 1), label='line')
      edit = data.draw(st.sampled_from(['drop', 'repeat', 'token']), label='edit')
      if edit == 'drop':
        del lines[i]
      elif edit == 'repeat':
        lines.insert(i, lines[i])
      else:
        words = lines[i].split(' ')
        at = data.draw(st.integers(0, len(words) - 1), label='word')
        words[at] = data.draw(st.sampled_from(SPECIAL_TOKENS), label='token')
        lines[i] = ' '.join(words)
    content = '\n'.join(lines).encode('utf-8')
  with open(file, 'wb') as f:
    f.write(content)


def corrupt_npz(data, file: str) -> None:
  with np.load(file) as f:
    arrays = {k: f[k] for k in f.files}
  key = data.draw(st.sampled_from(sorted(arrays)), label='key')
  kind = data.draw(st.sampled_from(['array', 'tweak', 'delete', 'object', 'member']),
                   label='npz change')
  if kind == 'delete':
    del arrays[key]
  elif kind == 'array':
    arrays[key] = random_array(data, arrays[key])
  elif kind == 'tweak':
    arrays[key] = tweak(data, arrays[key])
  elif kind == 'object':
    arrays[key] = np.array([arrays[key], None], dtype=object)
  save = np.savez_compressed if data.draw(st.booleans(), label='compressed') else np.savez
  save(file, **arrays)
  if kind == 'member':
    with quiet(), zipfile.ZipFile(file, 'a') as z:  # a shadowing name warns: on purpose
      z.writestr(f'{key}.npy' if data.draw(st.booleans(), label='shadow') else 'notes.txt',
                 data.draw(st.binary(max_size=64), label='member bytes'))


def corrupt_npy(data, file: str) -> None:
  original = np.load(file)
  kind = data.draw(st.sampled_from(['array', 'tweak']), label='npy change')
  np.save(file, random_array(data, original) if kind == 'array' else tweak(data, original))


def corrupt_ply(data, file: str) -> None:
  with open(file, 'rb') as f:
    content = f.read()
  end = content.index(b'end_header')
  lines = content[:end].decode('ascii').splitlines()
  i = data.draw(st.integers(1, len(lines) - 1), label='header line')
  words = lines[i].split()
  at = data.draw(st.integers(0, len(words) - 1), label='word')
  words[at] = data.draw(st.sampled_from(['-1', '0', '999999999', 'float', 'list', 'ascii',
                                         'binary_big_endian', 'x', 'vertex', '']), label='word')
  lines[i] = ' '.join(words)
  with open(file, 'wb') as f:
    f.write(('\n'.join(lines) + '\n').encode('ascii') + content[end:])


CORRUPTIONS = {'.h5': [corrupt_h5], '.npz': [corrupt_npz], '.npy': [corrupt_npy],
               '.ply': [corrupt_ply, corrupt_text], '.txt': [corrupt_text],
               '.json': [corrupt_text], '.xyz': [corrupt_text]}


def files_under(path: str) -> list[str]:
  if os.path.isfile(path):
    return [path]
  return sorted(os.path.join(d, n) for d, _, names in os.walk(path) for n in names)


def corrupt(data, path: str) -> None:
  """Damages 1-2 distinct files (picked at random) of the layout at `path`."""
  damaged = []
  for _ in range(data.draw(st.integers(1, 2), label='files')):
    files = [f for f in files_under(path) if f not in damaged]
    if not files:
      return
    file = data.draw(st.sampled_from(files), label='file')
    damaged.append(file)
    kinds = [corrupt_bytes] + CORRUPTIONS.get(os.path.splitext(file)[1], [])
    data.draw(st.sampled_from(kinds), label='corruption')(data, file)


# --- the contract ---------------------------------------------------------------------

def one_line(error: UserError) -> None:
  message = str(error)
  assert message.strip() and '\n' not in message, message
  assert 'allow_pickle' not in message and 'Traceback' not in message, message


def check_dataset(dataset: data_lib.PointCloudDataset) -> None:
  """A dataset as the readers promise it (see `dataset.validate`)."""
  k = dataset.num_classes
  assert k >= 1 and {'train', 'test'} <= set(dataset.splits)
  for split in dataset.splits.values():
    points, labels = split.points, split.labels
    assert points.dtype == np.float32 and points.ndim == 3 and points.shape[-1] == 3
    assert len(points) >= 1 and points.shape[1] >= NUM_POINTS
    assert np.isfinite(points).all() and np.abs(points).max() <= MAX_COORD
    assert labels.dtype == np.int32 and labels.shape == points.shape[:1]
    assert labels.min() >= 0 and labels.max() < k
    if split.parts is not None:
      assert split.parts.dtype == np.int32 and split.parts.shape == points.shape[:2]
      assert split.parts.min() >= 0
      assert not dataset.num_parts or split.parts.max() < dataset.num_parts
  assert (np.bincount(dataset.train.labels, minlength=k) > 0).all()


def holds_contract(cfg) -> None:
  """Reading (and preparing) `cfg` ends in one line or in a valid dataset; never warns."""
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    try:
      dataset = data_lib.read(cfg)
    except UserError as e:
      one_line(e)
      return
    check_dataset(dataset)
    try:
      prepared = preprocess.prepare(dataset, NUM_POINTS, rotated=False)
    except UserError as e:
      one_line(e)
      return
  for split in prepared.splits.values():
    radius = np.linalg.norm(split.points, axis=-1).max(axis=1)
    assert np.isfinite(split.points).all() and (radius >= 0.5).all() and (radius <= 1).all()


def fuzz_layout(layout: str, data) -> None:
  writer, fmt = LAYOUTS[layout]
  with tempfile.TemporaryDirectory() as root:
    path = writer(root)
    corrupt(data, path)
    cfg = config.base_config().data
    cfg.update(format=data.draw(st.sampled_from([fmt, 'auto']), label='format'), path=path,
               num_points=NUM_POINTS)
    if fmt == 'scanobjectnn_h5' and cfg.format == fmt:
      cfg.variant = data.draw(st.sampled_from(['', 'obj_only', 'pb_t50_rs']), label='variant')
    holds_contract(cfg)


@pytest.mark.parametrize('layout', LAYOUTS)
@FAST
@given(data=st.data())
def test_fuzz_readers(layout, data):
  fuzz_layout(layout, data)


@pytest.mark.slow
@pytest.mark.parametrize('layout', LAYOUTS)
@LONG
@given(data=st.data())
def test_fuzz_readers_long(layout, data):
  fuzz_layout(layout, data)


# --- inspect's command line -----------------------------------------------------------

ARGUMENTS = ('PATH', 'PATH', '--json', '--format', 'auto', 'modelnet40_h5', 'npz', 'junk',
             '--variant', 'obj_bg', 'junk', '--num-points', '-5', '0', '32', 'x', '--bogus', '',
             '-', '--num-points=7', '--format=')


@pytest.fixture(scope='module')
def modelnet_path(tmp_path_factory):
  return test_readers.write_modelnet(str(tmp_path_factory.mktemp('fuzz')))[0]


def fuzz_command_line(path: str, data) -> None:
  argv = [path if a == 'PATH' else a for a in data.draw(
      st.lists(st.sampled_from(ARGUMENTS), max_size=6), label='argv')]
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    status = inspect.main(argv)
  if status == 2:
    assert out.getvalue() == '' and err.getvalue().startswith('error: ')
    assert err.getvalue().count('\n') == 1, err.getvalue()
  else:
    assert status == 0 and err.getvalue() == '' and out.getvalue().startswith('format: ')


@FAST
@given(data=st.data())
def test_fuzz_inspect_command_line(modelnet_path, data):
  fuzz_command_line(modelnet_path, data)


@pytest.mark.slow
@LONG
@given(data=st.data())
def test_fuzz_inspect_command_line_long(modelnet_path, data):
  fuzz_command_line(modelnet_path, data)
