"""Names of chunk states, and the recipient statuses the dispatcher sets itself.

Recipient statuses normally come from SMS.to's delivery reports. The dispatcher adds its own for
recipients that were never handed to SMS.to, so that the campaign's counts show them instead of
leaving them PENDING forever. They are stored with status rank 0, so any report outranks them.
"""

from core import statuses

# Chunk states.
QUEUED = "queued"
SENDING = "sending"
ACCEPTED = "accepted"
UNCERTAIN = "uncertain"
FAILED = "failed"
CANCELLED = "cancelled"
SKIPPED = "skipped"  # every recipient had opted out, so no request was made
RESENT = "resent"  # was uncertain; the operator re-sent its recipients in new chunks

# Chunks that still block a campaign from completing.
OPEN_CHUNK_STATES = (QUEUED, SENDING)

# Request shapes.
SINGLE = "single"
BULK = "bulk"
PERSONALISED = "personalised"

# Recipient statuses set by the dispatcher are defined with the others in core.statuses. The
# aliases keep them apart from the chunk states of the same name.
CANCELLED_STATUS = statuses.CANCELLED
UNCERTAIN_STATUS = statuses.UNCERTAIN
SUPPRESSED = statuses.SUPPRESSED
NOT_SENT = statuses.NOT_SENT
DISPATCH_STATUSES = statuses.DISPATCH_STATUSES

# Campaign statuses.
CAMPAIGN_QUEUED = "queued"
CAMPAIGN_SCHEDULED = "scheduled"
CAMPAIGN_SENDING = "sending"
CAMPAIGN_PAUSED = "paused"
CAMPAIGN_CANCELLED = "cancelled"
CAMPAIGN_COMPLETED = "completed"
CAMPAIGN_STOPPED = "stopped"
