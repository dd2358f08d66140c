"""What a blocking server is left working through after a gateway cell decides whether the runner waits for it or
restarts it. A gunicorn gthread worker keeps every connection it accepts, queued for its own threads, and one of two
workers held 28 to 31 of 32 (`ss -tnp`, 5 of 8 runs): its backlog after the default profile's gateway_10s (1 s at
scale 0.1) was 30 requests on 4 threads, 7.5 s, while the runner, foreseeing 32 on all 8 threads (4 s), waited; its
probe was answered by the other worker, and the next cell (async) ran beside that backlog: 2.0 to 4.4 req/s of the
6.4 its window allows, where the same cell on a fresh server reached 6.4."""

from __future__ import annotations

from server_matrix.planning.estimate import SETTLE_MARGIN_S
from server_matrix.planning.modes import MODES
from server_matrix.planning.profiles import PROFILES, resolve

BY_ID = {mode.id: mode for mode in MODES}
PARAMETERS = resolve(PROFILES["default"], connections=32, workers=2, threads=4)
DELAY_S = 1.0  # gateway_10s at the default profile's scale, 0.1


def backlog(mode_id: str) -> float:
    return BY_ID[mode_id].backlog_s(PARAMETERS.connections, DELAY_S, **PARAMETERS.server_values(port=0))


def test_a_gthread_servers_backlog_is_one_workers_to_work_through_so_it_is_restarted() -> None:
    assert backlog("wsgi-gthread") == 32 * DELAY_S / 4  # one worker's 4 threads, not both workers' 8
    assert backlog("wsgi-gthread") > DELAY_S + SETTLE_MARGIN_S  # more than the runner waits: restarted at once


def test_a_granian_wsgi_servers_backlog_is_one_workers_too_so_it_is_restarted() -> None:
    """granian's workers keep their connections too, if less unevenly: 10 to 22 of 32 (`ss -tnp`, 18 runs). After
    gateway_10s sync the probe was answered by the worker with fewer (3.3 to 3.5 s) while the other still worked, and
    the async cell after it reached 5.2 to 5.6 req/s of the 6.4 its window allows (3 of 3; the report's 87%)."""
    assert backlog("granian-wsgi") == 32 * DELAY_S / 4
    assert backlog("granian-wsgi") > DELAY_S + SETTLE_MARGIN_S


def test_servers_that_share_their_queue_keep_their_whole_servers_backlog() -> None:
    assert backlog("wsgi-sync") == 32 * DELAY_S / 2  # idle workers take the next connection from the listen queue
