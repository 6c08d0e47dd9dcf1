"""Sinks read events and engine models; they never parse."""
