"""The command lines' argument parsing, held to the package's promise for mistakes: one
line on stderr that names the problem and the fix, and status 2 (argparse's own prints
the usage first and exits)."""

from __future__ import annotations

import argparse

from dd3d_jax.errors import UserError


class ArgumentParser(argparse.ArgumentParser):
  """`argparse.ArgumentParser` whose mistakes raise a one-line UserError pointing at
  `--help`, for the command's `main` to print as `error: ...` with status 2."""

  def error(self, message: str):
    raise UserError(f'{message}; see {self.prog} --help.')
