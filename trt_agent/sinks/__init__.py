"""The daemon's outputs: the Prometheus collector of engine facts and the JSONL event stream.
Sinks read events and engine models; they never parse."""
