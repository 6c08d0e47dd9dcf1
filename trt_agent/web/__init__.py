"""The metrics endpoint: a bounded HTTP server (``server``) and the exporter-toolkit web config
(TLS, basic auth) it serves with (``config``)."""
