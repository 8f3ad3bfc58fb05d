"""The ``APP`` of the api-emits scenario: ``bench.api_app:realtime``, in memory, no schema.

In memory so the figure is the HTTP path's (the server, the JSON API, ``emit``), not Redis's.
"""

from tidings import Realtime

realtime = Realtime()
