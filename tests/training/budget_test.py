"""cips_tf.training.budget: durations and their errors."""
import pytest

from cips_tf.errors import ConfigError
from cips_tf.training import budget


@pytest.mark.parametrize("text, seconds", [("9m", 540.0), ("1h30m", 5400.0), ("90s", 90.0), ("2.5m", 150.0),
                                           ("1h 2m 3s", 3723.0), ("45", 45.0), (30, 30.0), (1.5, 1.5)])
def test_parse_duration_accepts_units_and_numbers(text, seconds):
    assert budget.parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("off", [None, "", 0])
def test_parse_duration_off(off):
    assert budget.parse_duration(off) is None


@pytest.mark.parametrize("bad", ["9 minutes", "m", "-5m", "1d", True, -3, "0s", "nan"])
def test_parse_duration_bad_names_the_field(bad):
    with pytest.raises(ConfigError, match="training.time_budget"):
        budget.parse_duration(bad)


def test_format_duration():
    assert budget.format_duration(42) == "42s"
    assert budget.format_duration(425) == "7m05s"
    assert budget.format_duration(3723) == "1h02m03s"
