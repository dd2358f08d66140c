"""server-matrix: the Django demo under every server mode and GIL setting, measured with loadgen.

Kept free of imports: ``server_matrix.servers.asgi_threads`` runs inside the server's interpreter, which
has the demo's dependencies but none of the runner's (rich, typer, matplotlib, loadgen).
"""
