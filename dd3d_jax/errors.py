"""User-facing errors: one line that names the problem and the fix.

`main` prints these without a traceback and exits with status 2 (an `Interrupted`
job: 130); anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
  """An input problem the user can fix (bad path, malformed file, bad config value)."""


class DataError(UserError):
  """A dataset file or folder is missing, unreadable or malformed."""


class ConfigError(UserError):
  """A configuration value is invalid."""


class Interrupted(KeyboardInterrupt):
  """A Ctrl-C, with the one line that says where the job stopped and how it resumes
  (`main` prints it without a traceback and exits with status 130)."""
