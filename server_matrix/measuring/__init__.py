"""Measuring: a plan run round by round against real servers, into the results model.

A group session starts its server and measures each cell with loadgen; the runner goes through
the rounds, keeps what an earlier run finished, and hands every new sample to whoever stores it;
the results model holds cells and their samples (loadgen ``Result`` objects, the server's events,
the machine's usage). Also the progress display and the stop signals. Imports ``planning`` and
``servers``; never formats a report, never computes an interval. Kept free of imports itself:
``python -m server_matrix`` reads ``measuring.signals`` before anything else.
"""
