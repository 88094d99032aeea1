"""Benchmarks: train -> evaluate -> cost for a set of models on a task, with a report.

``leanecg bench TASK --models a,b,c`` runs :func:`leanecg.bench.runner.run_benchmark`; tasks are defined
in :mod:`leanecg.tasks`.
"""
