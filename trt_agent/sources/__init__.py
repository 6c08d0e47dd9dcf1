"""Sources: where raw TensorRT text comes from (the log tailer; later the profiler host)."""
