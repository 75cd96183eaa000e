"""Tests of the benchmark's baselines and its harness."""
