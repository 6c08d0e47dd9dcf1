"""``import tensorrt`` for processes the tests start (PYTHONPATH=tests/trt_double/site): the
double of ``double.py``, built on NVIDIA's real bindings when they load (``nvidia.py``).

``TRT_DOUBLE_TIME_SCALE`` scales the "GPU" time each inference takes (default 1)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # tests/, for the trt_double package

from trt_double.double import make_trt
from trt_double.nvidia import load_bindings

_trt = make_trt(load_bindings(), time_scale=float(os.environ.get("TRT_DOUBLE_TIME_SCALE", "1")))
globals().update({k: v for k, v in vars(_trt).items() if not k.startswith("__")})
__version__ = _trt.__version__
NVIDIA_CLASSES = _trt.IProfiler.__module__ != "trt_double.double"
