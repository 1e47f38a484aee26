"""SMS.to delivery reports and opt-outs: stored raw before the 200, then matched and applied.

Public entry points:
- `parse.parse_report_body`, `parse.normalise_report_phone`: every body shape SMS.to or a
  gateway sends. Report phones are compared in E.164, the form recipients are stored in.
- `ingest.IngestWriter`: the group-committing writer behind the webhook (a 200 means committed).
- `matcher.Matcher`, `matcher.process_pending_batch`, `matcher.drain_pending`: parse stored
  bodies into DeliveryReport rows and apply them to recipients, a batch per transaction.
- `matching.rematch_for_provider_ids`: called by the dispatcher right after it records a
  chunk's message_id or campaign_id; `matching.sweep_unmatched` is the periodic safety net.
- `unmatched.list_unmatched`, `unmatched.count_unmatched`: reports waiting for a recipient.
- `optout.is_suppressed`, `optout.suppressed_numbers`: opt-outs for import and dispatch.
- `health.callback_health`: the figures of GET /api/callback-health.
- `signature.check_request_auth`, `signature.callback_url_with_token`: request authenticity.
"""
