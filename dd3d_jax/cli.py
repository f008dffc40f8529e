"""The command lines' argument parsing, held to the package's promise for mistakes: one
line on stderr that names the problem and the fix, and status 2 (argparse's own prints
the usage first)."""

from __future__ import annotations

import argparse
import sys


class ArgumentParser(argparse.ArgumentParser):
  """`argparse.ArgumentParser` whose errors are one line pointing at `--help`."""

  def error(self, message: str):
    print(f'error: {message}; see {self.prog} --help.', file=sys.stderr)
    sys.exit(2)
