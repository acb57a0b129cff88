"""tests/extras.py: an absent extra skips, a required or broken one fails (CI must not go green with
an engine silently off)."""
import sys

import pytest

import extras


@pytest.fixture
def fake_extras(tmp_path, monkeypatch):
    """Two extras: 'absent' (its module is not installed) and 'broken' (its import raises)."""
    (tmp_path / "cips_broken_extra").mkdir()
    (tmp_path / "cips_broken_extra" / "__init__.py").write_text('raise ImportError("broken")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "cips_broken_extra", raising=False)
    monkeypatch.setitem(extras.EXTRAS, "absent", ("cips_no_such_module",))
    monkeypatch.setitem(extras.EXTRAS, "broken", ("cips_broken_extra",))
    monkeypatch.setattr(extras, "KNOWN", extras.KNOWN | {"absent", "broken"})
    monkeypatch.delenv("CIPS_REQUIRE_EXTRAS", raising=False)
    return monkeypatch


def test_require_absent_extra_skips_with_the_pip_command(fake_extras):
    with pytest.raises(pytest.skip.Exception, match=r"pip install 'cips-tf\[absent\]'"):
        extras.require("absent")


def test_require_absent_extra_fails_when_required(fake_extras):
    fake_extras.setenv("CIPS_REQUIRE_EXTRAS", "absent")
    with pytest.raises(pytest.fail.Exception, match="CIPS_REQUIRE_EXTRAS requires it"):
        extras.require("absent")
    with pytest.raises(pytest.UsageError, match="cips_no_such_module"):
        extras.check_required()


def test_require_broken_extra_fails_even_when_not_required(fake_extras):
    with pytest.raises(pytest.fail.Exception, match=r"\[broken\] extra is broken.*ImportError\('broken'\)"):
        extras.require("broken")
    fake_extras.setenv("CIPS_REQUIRE_EXTRAS", "broken")
    with pytest.raises(pytest.UsageError, match="broken"):
        extras.check_required()


def test_require_installed_extra_returns_its_module(fake_extras):
    fake_extras.setitem(extras.EXTRAS, "present", ("json", "csv"))
    import json

    assert extras.require("present") is json


def test_required_rejects_unknown_names(fake_extras):
    fake_extras.setenv("CIPS_REQUIRE_EXTRAS", "beam, bogus")
    with pytest.raises(pytest.UsageError, match="bogus"):
        extras.required()
