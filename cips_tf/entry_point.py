"""The entry points' one error policy (the CLIs and cips-pipeline): `entry_point.run(main)` instead of
`app.run(main)`. It lives in the library because entry points share helpers through it, not through
each other.

- user errors (a bad `--config.*` field or flag, a missing path, a busy workdir:
  `cips_tf.errors.UserError`, `FileNotFoundError` and kin, `app.UsageError`, flag parsing errors)
  print ONE line `<program>: error: <message>` on stderr and exit with code 2;
- known run failures (`cips_tf.errors.RunError`: divergence; a bad image in the data) print one
  line and exit with code 1;
- anything else is a bug: the traceback is kept (exit code 1).

`--verbosity=1` (absl's flag) adds the traceback to the one line of the first two kinds and shows
TensorFlow's known harmless console lines (`cips_tf._tf_start.quiet_console`).
"""
import os
import re
import sys
import traceback

from absl import app, flags

from cips_tf._tf_start import quiet_console
from cips_tf.errors import RunError, UserError

USAGE_EXIT_CODE = 2
RUN_FAILURE_EXIT_CODE = 1
PATH_ERRORS = (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError, FileExistsError)


def _program():
    return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "cips"


def _one_line(message):
    lines = [line.strip() for line in str(message).strip().splitlines() if line.strip()]
    return lines[0] if lines else "error"


_VERBOSITY = {"value": 0}  # --verbosity as given (main() may reset absl's verbosity to INFO)


def _verbose():
    return _VERBOSITY["value"] >= 1


def fail(message, code):
    """Prints `<program>: error: <message>` (one line) and exits with `code`."""
    sys.stderr.write(f"{_program()}: error: {_one_line(message)}\n")
    sys.stderr.flush()
    sys.exit(code)


def classify(error):
    """(exit code, one-line message) for an expected error, or None for a bug."""
    if isinstance(error, (UserError, app.UsageError, flags.Error)):
        return USAGE_EXIT_CODE, str(error)
    if isinstance(error, OSError) and "Failed loading config file" in str(error):  # --config=<missing file>
        return USAGE_EXIT_CODE, _flag_error_message(error, sys.argv)
    if isinstance(error, PATH_ERRORS):
        name = getattr(error, "filename", None)
        reason = error.strerror or str(error)
        return USAGE_EXIT_CODE, f"{name}: {reason}" if name and str(name) not in reason else str(error)
    if isinstance(error, RunError):
        return RUN_FAILURE_EXIT_CODE, str(error)
    try:  # TensorFlow here only: every entry point parses its flags and reports their errors before it loads
        import tensorflow as tf  # pylint: disable=g-import-not-at-top

        from cips_tf.data import graph_decode  # pylint: disable=g-import-not-at-top

        if isinstance(error, tf.errors.OpError) and graph_decode.is_bad_image_error(error):
            return RUN_FAILURE_EXIT_CODE, graph_decode.bad_image_message(error)
    except ImportError:
        pass
    return None


def _flag_error_message(error, argv):
    """One line for an error raised while parsing the command line (ml_collections raises KeyError /
    AttributeError for an unknown `--config.<field>` and OSError for a config file it cannot load)."""
    text = str(error.args[0]) if isinstance(error, (KeyError, AttributeError)) and error.args else str(error)
    if isinstance(error, (KeyError, AttributeError)):
        text = text.replace("\\'", "'").replace("\\n", " ").replace("\n", " ")
        key = re.search(r"'([^']+)'", text)
        key = key.group(1) if key else text.strip()
        hint = re.search(r'Did you mean "([^"]+)"', text)
        hint = f" (did you mean {hint.group(1)}?)" if hint else ""
        for arg in argv[1:]:
            name = arg.split("=", 1)[0]
            if name.startswith("--config.") and key in name.split("."):
                return f"{name}: no such config field{hint}"
        return f"unknown config field {key!r}{hint}"
    if isinstance(error, OSError):
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        detail = next((line for line in reversed(lines) if "Errno" in line or "rror" in line), lines[-1] if lines else "")
        config_args = [a.split("=", 1)[1] for a in argv[1:] if a.startswith("--config=")]
        where = f"--config={config_args[0]}: " if config_args else ""
        return f"{where}cannot load the config file: {detail}"
    return text


def _parse_flags(argv):
    try:
        remaining = flags.FLAGS(argv)
        _VERBOSITY["value"] = flags.FLAGS["verbosity"].value if "verbosity" in flags.FLAGS else 0
        return remaining
    except flags.Error as e:
        fail(f"{e}", USAGE_EXIT_CODE)
    except (KeyError, AttributeError, OSError, ValueError, TypeError) as e:  # config flags (ml_collections)
        fail(_flag_error_message(e, argv), USAGE_EXIT_CODE)


def run(main):
    """`app.run(main)` with the error policy above."""

    def wrapped(argv):
        quiet_console(verbose=_verbose())
        try:
            return main(argv)
        except SystemExit:
            raise
        except BaseException as e:  # noqa: BLE001
            kind = classify(e)
            if kind is None:
                raise
            if _verbose():
                traceback.print_exc()
            fail(kind[1], kind[0])

    app.run(wrapped, flags_parser=_parse_flags)
