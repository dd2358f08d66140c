"""Custom percentiles after the report (wrk's scripts/report.lua).

loadgen -s examples/report.py http://127.0.0.1:8080/
"""


def done(summary, latency, requests):
    print("------------------------------")
    for p in (50, 90, 99, 99.999):
        print(f"{p}%,{latency.percentile(p)}")
    print(f"requests,{summary['requests']}  errors,{sum(summary['errors'].values())}")
