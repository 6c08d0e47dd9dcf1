"""A test double of NVIDIA's TensorRT Python API and of pycuda (see double.py, nvidia.py, site/)."""
