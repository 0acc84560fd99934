"""bbbcore benchmarks (not part of the installed package; run ``python -m benchmarks.run``)."""
