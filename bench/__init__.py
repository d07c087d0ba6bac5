"""tokenwire benchmarks: ``make bench`` (or ``python -m bench``) writes BENCHMARKS.md."""
