"""`python -m bench`: not written yet (issue 5)."""

raise SystemExit("the benchmark suite is not written yet")
