"""Offline documents for people and CI: the engine summary (``report``), rule results (text, JSON,
JUnit), build A vs build B (``diff``), the self-contained HTML report and the profile table.
They read engine models and rule results; the daemon's outputs live in ``sinks``."""
