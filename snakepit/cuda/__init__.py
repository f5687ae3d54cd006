"""Exact CUDA/NVIDIA package manifests: the lock files, the planner and the drift report.

Everything here is pure (text and facts in, typed values out). The pyinfra glue lives in
``operations/cuda.py``, ``facts/cuda.py`` and ``deploys/``; the command around the tool
deploys in ``tools/cuda/``, the signed stub vendor repository in ``tools/sandbox/``.
"""
