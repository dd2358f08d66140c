"""``python -m loadgen.workermain FD``: a worker process (see :mod:`loadgen.workerproc`)."""

import sys

from loadgen.workerproc import child_main

sys.exit(child_main(int(sys.argv[1])))
