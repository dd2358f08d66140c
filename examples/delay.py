"""Think time: wait 10-50 ms before each request (wrk's scripts/delay.lua).

loadgen -s examples/delay.py http://127.0.0.1:8080/
"""

import random


def delay():
    return random.randint(10, 50)
