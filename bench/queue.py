"""Queue throughput (the issue's ``bench/queue.py``); the code is in queue_throughput.py.

Run as ``.venv/bin/python bench/queue.py [--jobs N]``. Python puts this folder first
on ``sys.path`` when it runs a script, where this file would shadow the standard
library's ``queue`` module for everything imported after it, so it takes the folder
off the path before importing anything else.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or os.getcwd()) == _HERE:
    sys.path[0] = os.path.dirname(_HERE)

from bench.queue_throughput import main

if __name__ == "__main__":
    main()
