"""The run's live figures for the monitoring systems teams already watch: a Prometheus endpoint
(:mod:`.prometheus`, formatted by :mod:`.openmetrics`) and an OTLP/HTTP push (:mod:`.otlp`). Each
is an :class:`loadgen.live.sinks.Exporter`: given every second of the run as it ends."""
