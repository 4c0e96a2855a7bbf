"""voxcat benchmarks: run as `python -m benchmarks.<name>` (see each module)."""
