"""Planning: what a run will do, before any server starts.

The demo's endpoints, the GIL settings, the server modes (and extra ones from a modes file), a
cell's run parameters declared once (``parameters.py``) and the profiles that set them, the
interpreters to run on (found, probed, given a venv), and the plan itself: server groups, their
cells, the rounds that repeat them, and what it all costs in time. The lowest layer: it imports no
other room of server_matrix.
"""
