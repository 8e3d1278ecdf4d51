"""gradebench benchmarks: bench/run.py runs the figures in bench/figures/."""
