"""Activity names the workflows call.

Workflows refer to activities by name so that they never import the activity modules (which import
asyncpg and other I/O libraries the sandbox must not see).
"""

from __future__ import annotations

from datetime import timedelta

#: Every activity call sets this: the worker heartbeats each running activity every few seconds
#: (``worker/activity_heartbeat.py``), so an activity whose worker died is retried after this long,
#: not after its whole start-to-close timeout (minutes). Activity options are not part of replay.
HEARTBEAT_TIMEOUT = timedelta(seconds=20)

RECORD_EVENTS = "record_events"
ASSESS_INFRASTRUCTURE = "assess_infrastructure"
OPEN_TICKET = "open_ticket"
CLOSE_TICKET = "close_ticket"
PROVISION = "provision"
DEPROVISION = "deprovision"
CHECK_HEALTH = "check_health"
RENEW_RESOURCE = "renew_resource"
PROMOTE = "promote_release"
GET_TICKET = "get_ticket"
