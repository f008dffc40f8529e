"""One writer per workdir: `with hold(root): ...` runs the block as the workdir's only writer.

The lock is the file `<root>/.lock`, holding the host, process id, boot and start time
of its holder, with an exclusive `flock` on it for as long as the holder runs. The
kernel drops the flock when the holder dies, however it dies; the file then stays,
and the next run takes it over:

- flock held (a live process on a disk that shares flocks): refused;
- written on this host, by a process that is still alive in the same boot: refused
  (the check for disks whose flocks do not reach other processes; a process id that
  was reused by another program is refused too, and the message says how to clear it);
- written on another host: refused, since whether it still runs cannot be checked from
  here; the message names the file to delete if that run is gone (its machine lost);
- otherwise (a dead process of this host, a previous boot, an empty file): taken over
  with a warning.

Only process 0 of a job writes (`devices.is_writer`), so only it takes the lock. A
workdir that the lock had to create is removed again on release if nothing else was
written to it, so a refused run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import time
from typing import Iterator

from dd3d_jax import devices
from dd3d_jax.errors import UserError

log = logging.getLogger('dd3d_jax')
NAME = '.lock'


def _boot_id() -> str | None:
  """This boot of this machine (Linux), or None where it cannot be read."""
  try:
    with open('/proc/sys/kernel/random/boot_id') as f:
      return f.read().strip()
  except OSError:
    return None


def _alive(pid) -> bool:
  """Whether a process with this id exists on this host."""
  if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
    return False
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # it exists, but belongs to another user
    return True
  return True


def _read(fd: int) -> dict:
  """The holder the lock file names ({} if it is empty or unreadable)."""
  try:
    holder = json.loads(os.pread(fd, 4096, 0).decode())
  except (OSError, ValueError):
    return {}
  return holder if isinstance(holder, dict) else {}


def _stale(holder: dict) -> bool:
  """Whether the process that wrote `holder` certainly no longer runs (its flock is free)."""
  if not holder:
    return True
  if holder.get('host') != socket.gethostname():
    return False
  boot = _boot_id()
  if boot and holder.get('boot') and holder['boot'] != boot:
    return True
  return holder.get('pid') == os.getpid() or not _alive(holder.get('pid'))


def _who(holder: dict) -> str:
  if not holder:
    return 'another process'
  return (f'process {holder.get("pid")} on host {holder.get("host")} (started '
          f'{holder.get("started", "at an unknown time")})')


def _refusal(root: str, path: str, holder: dict) -> str:
  if holder and holder.get('host') != socket.gethostname():
    fix = (f'wait for it to end; if it no longer runs (its machine was lost), delete {path} '
           'and run the same command again')
  elif holder:
    fix = (f'wait for it to end or stop it (kill {holder.get("pid")}), then run the same command '
           f'again; if no dd3d_jax run has that process id, delete {path}')
  else:
    fix = 'wait for it to end, then run the same command again'
  return f'{root} is in use by {_who(holder)}: one run at a time writes a workdir; {fix}.'


def _same_file(fd: int, path: str) -> bool:
  try:
    return os.path.samestat(os.fstat(fd), os.stat(path))
  except FileNotFoundError:
    return False


def _acquire(root: str, path: str) -> int:
  """The open, flocked lock file with this process's record in it."""
  while True:
    try:
      fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except IsADirectoryError:
      raise UserError(f'{path} is a folder, not the lock file a run keeps in its workdir; move '
                      'it out of the workdir and run the same command again.') from None
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = _read(fd)
      os.close(fd)
      raise UserError(_refusal(root, path, holder)) from None
    except OSError as e:  # a disk without flocks: the record alone decides
      if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
        os.close(fd)
        raise
    if not _same_file(fd, path):  # its holder removed it after we opened it: open it anew
      os.close(fd)
      continue
    holder = _read(fd)
    if not _stale(holder):
      os.close(fd)
      raise UserError(_refusal(root, path, holder))
    if holder:
      log.warning('%s: took over the lock of %s, which no longer runs.', path, _who(holder))
    record = {'host': socket.gethostname(), 'pid': os.getpid(), 'boot': _boot_id(),
              'started': time.strftime('%Y-%m-%d %H:%M:%S %z')}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(record) + '\n').encode(), 0)
    os.fsync(fd)
    return fd


def _release(fd: int, path: str) -> None:
  """Deletes the lock file (if it is still ours), then drops the flock."""
  try:
    if _same_file(fd, path):
      os.remove(path)
  finally:
    os.close(fd)


def _missing_folders(root: str) -> list[str]:
  """The folders of `root`'s path that do not exist yet, deepest first."""
  out, path = [], os.path.abspath(root)
  while not os.path.exists(path):
    out.append(path)
    path = os.path.dirname(path)
  return out


@contextlib.contextmanager
def hold(root: str) -> Iterator[None]:
  """Runs the block as the only writer of workdir `root` (created if needed).

  The lock is released when the block ends, by an exception too; a folder made for it
  is removed again if the block left it empty. In a job of several processes only
  process 0 takes it.

  Raises:
    UserError: another run holds it (naming its process, host and start time, and what
      to do), before anything is written; `<root>/.lock` is a folder.
  """
  if not devices.is_writer():
    yield
    return
  made = _missing_folders(root)
  os.makedirs(root, exist_ok=True)
  path = os.path.join(root, NAME)
  try:
    fd = _acquire(root, path)
    try:
      yield
    finally:
      _release(fd, path)
  finally:
    for folder in made:  # deepest first; stops at the first that is not empty
      try:
        os.rmdir(folder)
      except OSError:
        break
