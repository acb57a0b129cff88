"""The scenarios of benchmarks/bad_inputs_export.py (crafted checkpoint, oversized serving request,
concurrent exporters, planted lock symlink) as tests: each built in a temp folder and run in a fresh
process, checked by the scenario's own check. The fast ones run in the fast tier."""
import importlib.util
import pathlib

import pytest

import extras

REPO = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bad_inputs_export", REPO / "benchmarks" / "bad_inputs_export.py")
bad_inputs_export = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bad_inputs_export)

SCENARIOS = {s["name"]: s for s in bad_inputs_export.SCENARIOS}


def _params(fast):
    return [pytest.param(name, id=name) for name, s in SCENARIOS.items() if s["fast"] == fast]


def test_scenarios_have_the_plugin_fields():
    for s in bad_inputs_export.SCENARIOS:
        assert {"name", "build", "check", "fast"} <= set(s) and callable(s["build"]) and callable(s["check"])
        assert s.get("baseline") in (None, *SCENARIOS)


@pytest.mark.parametrize("name", _params(fast=True))
def test_bad_input_scenario_fast_stays_harmless(name, tmp_path):
    if name == "pt_code_running":
        extras.require("torch")
    ok, why, output = bad_inputs_export.run_scenario(SCENARIOS[name], tmp_path, timeout=900)
    assert ok, f"{why}\n{output[-3000:]}"


@pytest.mark.slow
@pytest.mark.parametrize("name", _params(fast=False))
def test_bad_input_scenario_slow_stays_harmless(name, tmp_path):
    ok, why, output = bad_inputs_export.run_scenario(SCENARIOS[name], tmp_path, timeout=1800)
    assert ok, f"{why}\n{output[-3000:]}"
