"""Exact CUDA/NVIDIA package manifests: the lock files, the planner and the drift report.

Everything here is pure (text and facts in, typed values out) except ``stubrepo`` (builds
and serves the vendor-like test repository) and ``cli`` (the friendly command around the
pyinfra deploys). The pyinfra glue lives in ``operations/cuda.py``, ``facts/cuda.py`` and
``deploys/``.
"""
