"""Imported by Python at start-up when this folder is on PYTHONPATH: the benchmark puts it there for
the operator process only, so the operator runs unchanged (`python -m kubedet`, as in production)
while its API requests are counted (see bench/apicount.py)."""

import os

if os.environ.get("KUBEDET_BENCH_COUNT_API") == "1":
    from bench import apicount

    apicount.install()
