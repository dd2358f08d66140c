"""Per-worker state: setup() numbers each worker, done() reads back what each counted
(wrk's scripts/setup.lua).

    loadgen -t2 -c4 -s examples/setup.py http://127.0.0.1:8080/
"""

threads = []


def setup(thread):
    thread.set("id", len(threads) + 1)
    threads.append(thread)


def init(args):
    global requests, responses
    requests = 0
    responses = 0


def request():
    global requests
    requests += 1
    return wrk.request()  # noqa: F821 - `wrk` is provided by loadgen


def response(status, headers, body):
    global responses
    responses += 1


def done(summary, latency, requests):
    for thread in threads:
        print(
            f"thread {thread.get('id')} made {thread.get('requests')} requests "
            f"and got {thread.get('responses')} responses"
        )
