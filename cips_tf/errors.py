"""The two kinds of expected failure, so entry points can report them in one line.

- `UserError`: the user's input is wrong (a config field, a path, a flag, a busy workdir). The CLIs
  print its message in one line and exit with code 2 (`cips_tf.entry_point`).
- `RunError`: the run failed for a known reason that a traceback would not explain better
  (training diverged, a bad image in the data). One line, exit code 1.

Anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """Wrong user input; the message names the field, flag or path."""


class RunError(Exception):
    """A known failure of a run; the message says what happened and what to do."""


class ConfigError(UserError, ValueError):
    """A config field has a bad value. `field` is its dotted name (e.g. `data.path`)."""

    def __init__(self, field, message):
        super().__init__(f"config.{field}: {message}")
        self.field = field
