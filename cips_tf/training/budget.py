"""Wall-clock budgets: `training.time_budget` ("9m", "1h30m", "90s", a number of seconds) and the clock
that counts a run's training time across resumes.

The clock counts the wall time of `train_and_evaluate` from its start (model building, the data
pipeline's start and step compilation included) to the end of each step, summed over every
invocation of the run: each checkpoint stores the total so far (`train_seconds`), and a resume
continues from the checkpoint it restores. Time after the last checkpoint of a killed run is lost
with its steps, so it is not counted. A resumed run whose budget is spent saves nothing new and
stops at once; raise the budget (a hyperparameter: the config wins on resume) to train on.
"""
import re

from cips_tf.errors import ConfigError

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(h|m|s)")


def parse_duration(value, field="training.time_budget"):
    """'1h30m', '9m', '90s', '2.5m', or a number of seconds -> seconds (float); None/''/0 -> None."""
    if value is None or value == "" or value == 0:
        return None
    if isinstance(value, bool):
        raise ConfigError(field, f"must be a duration like '9m', '1h30m' or '90s', got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        elif text and re.fullmatch(r"(\d+(\.\d+)?(h|m|s))+", text):
            scale = {"h": 3600.0, "m": 60.0, "s": 1.0}
            seconds = sum(float(n) * scale[unit] for n, unit in _PART.findall(text))
        else:
            raise ConfigError(field, f"must be a duration like '9m', '1h30m' or '90s', got {value!r}")
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise ConfigError(field, f"must be a positive duration, got {value!r}")
    return seconds


def format_duration(seconds):
    """Seconds -> '7m05s' / '1h02m03s' / '42s'."""
    seconds = int(round(max(seconds, 0)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m{s:02d}s"
    if m:
        return f"{m}m{s:02d}s"
    return f"{s}s"
