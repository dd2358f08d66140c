"""Servers: one server process, from its environment to its stop.

Its environment and import path, starting it in a process group of its own, waiting until it
answers, counting what its log says, stopping it and whatever it started, and the watchdog that
kills every server when the runner dies. Imports only ``planning``. Kept free of imports itself:
``servers.asgi_threads`` runs inside the server's interpreter.
"""
