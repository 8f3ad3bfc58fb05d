"""The app two ``tidings serve`` processes serve in ``test_processes``: Realtime on ``SERVED_REDIS_URL``."""

import os

from tidings import Realtime

realtime = Realtime(redis=os.environ["SERVED_REDIS_URL"])
