"""Activity names the workflows call.

Workflows refer to activities by name so that they never import the activity modules (which import
asyncpg and other I/O libraries the sandbox must not see).
"""

from __future__ import annotations

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
