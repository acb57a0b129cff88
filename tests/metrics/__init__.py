"""Tests of cips_tf/metrics (a package so that its test modules' names cannot clash with tests/cli's)."""
