"""pycuda for processes the tests start (PYTHONPATH=tests/trt_double/site): no GPU; see driver.py."""
