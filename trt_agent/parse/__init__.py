"""Parsers: TensorRT text and JSON artifacts in, events out.

``parse_stream`` is the one entry point the CLI and the daemon share; it sniffs what it was
handed (a TensorRT log in any dialect, a calibration cache, a trtexec/inspector JSON file) and
dispatches to the matching reader.
"""

from trt_agent.parse.dispatch import parse_path, parse_stream
from trt_agent.parse.log import LogReader, ParseStats

__all__ = ["LogReader", "ParseStats", "parse_path", "parse_stream"]
