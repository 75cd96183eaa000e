"""The benchmark: the solver against random serial dictatorship, a stable matching and the
flow alone, on generated rounds (see bench/README.md)."""
