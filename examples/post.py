"""POST a JSON body (wrk's scripts/post.lua). Without a script: loadgen -m POST -b '...' -H ...

loadgen -s examples/post.py http://127.0.0.1:8080/echo
"""

wrk.method = "POST"  # noqa: F821 - `wrk` is provided by loadgen
wrk.body = '{"name": "loadgen", "value": 1}'  # noqa: F821
wrk.headers["Content-Type"] = "application/json"  # noqa: F821
