"""Watching a run as it happens: each worker's seconds, sent home while it runs, merged into one
:class:`~loadgen.live.second.LiveSecond` per second and handed to the views and exporters.

Data flows one way: the worker's loop closes a second and posts it (:mod:`loadgen._run.pulse`),
the parent reads every worker's posts in a thread of its own (:mod:`.channel`), collates them
(:mod:`.collate`) and gives each merged second to its sinks (:mod:`.sinks`): the terminal view
(:mod:`loadgen.report.live_view`), the Prometheus endpoint and the OTLP push
(:mod:`loadgen.export`), an API caller's callback. Nothing of this runs unless a sink is asked for.
"""
