"""``server-matrix run --client-dask``: loadgen's workers run on a Dask cluster, the servers here."""

from __future__ import annotations

import pytest

from tests.dask_cluster import DaskCluster
from tests.matrix.conftest import MatrixCommand, assert_nothing_left, load_results, shown

pytest.importorskip("distributed", reason="pip install 'loadgen[dask]'")
pytestmark = pytest.mark.slow


def test_the_client_runs_on_the_dask_cluster(matrix: MatrixCommand, cluster: DaskCluster) -> None:
    out = matrix.workdir / "out"
    done = matrix.quick_run(
        out, "--modes", "wsgi-sync", "--endpoints", "json", "--variants", "sync", "--client-threads", "1",
        "--client-dask", cluster.address, "--bind", "127.0.0.1", "--duration", "0.25", timeout=120,
    )  # fmt: skip
    workers = cluster.workers()
    assert done.returncode == 0, done.stderr
    results = load_results(out)
    assert_nothing_left(matrix, results)
    (cell,) = [cell for cell in results["cells"] if cell["status"] != "skipped"]
    result = shown(cell)["result"]
    assert cell["status"] == "ok" and result["requests"] > 0
    (host,) = result["hosts"]  # one task (--client-threads 1), on one of the cluster's workers
    assert host["address"].startswith("tcp://127.0.0.1:") and host["requests"] == result["requests"]
    assert workers == len(cluster.worker_processes) and results["parameters"]["client_dask"] == cluster.address
