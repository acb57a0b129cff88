"""The fast scenarios of `benchmarks/bad_inputs.py` (issue 17): each crafted input, run through the real
CLI in a fresh process under the benchmark's memory limit, passes its check."""
import pathlib
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
import bad_inputs  # noqa: E402  pylint: disable=wrong-import-position

SCENARIOS = bad_inputs.all_scenarios()
# This module's own rows; bad_inputs_export's fast rows run in tests/export/bad_inputs_export_test.py
FAST = sorted(s["name"] for s in bad_inputs.SCENARIOS if s["fast"])
MEM_LIMIT = 8 * 2**30  # the benchmark's default address-space cap


def test_bad_inputs_scenarios_follow_the_interface():
    assert FAST, "no fast scenario"
    for name, scenario in SCENARIOS.items():
        assert scenario["name"] == name and callable(scenario["build"]) and callable(scenario["check"])
        assert isinstance(scenario["fast"], bool)
        assert scenario.get("baseline") in (None, *SCENARIOS), name


@pytest.mark.parametrize("name", FAST)
def test_bad_inputs_fast_scenario_passes(name, tmp_path):
    ok, why, peak, _ = bad_inputs.run_scenario(SCENARIOS[name], tmp_path, MEM_LIMIT)
    assert ok, f"{name}: {why}\n{(tmp_path / 'output.txt').read_text(errors='replace')[-3000:]}"
    assert peak > 0


def test_bad_inputs_crafted_files_are_small(tmp_path):
    assert len(bad_inputs.png_bytes(1_000_000, 1)) < 10_000
    assert len(bad_inputs.png_bytes(16384, 16384, rows=16)) < 10_000
    archive = bad_inputs.good_zip(tmp_path / "bomb.zip", bomb=True)
    assert archive.stat().st_size < 2 * 2**20
