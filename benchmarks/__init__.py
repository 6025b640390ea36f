"""Benchmarks for clickfunnels-async (`make bench`, not part of `make test`).

`python -m benchmarks.run` measures every figure against a baseline taken in the same run and writes
`benchmarks/results.md` (for people) and `benchmarks/results.json` (for tools).
"""
