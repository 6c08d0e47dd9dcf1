"""trt-agent: makes NVIDIA TensorRT's optimisation decisions and runtime behaviour observable."""

__version__ = "0.2.0"
