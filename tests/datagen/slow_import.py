"""A module that takes :data:`SECONDS` to import, for tests of processes stopped mid-start.

Importing it in the test process costs nothing: the pause runs only in a worker process.
"""

import multiprocessing
import time

SECONDS = 30

if multiprocessing.parent_process() is not None:
    time.sleep(SECONDS)
