"""Sending one claimed chunk and recording the outcome that SMS.to's response proves.

| response | chunk | campaign |
| --- | --- | --- |
| 2xx with an id | accepted, ids stored on it and its recipients | completed after its last chunk |
| lost response (timeout, connection dropped, 504, 2xx without id) | uncertain | goes on |
| 429, 500/502/503, no connection | queued again after a back-off with jitter | goes on |
| 402 | queued again | paused, SMS.to's balance message in `status_reason` |
| 401 | queued again | stopped, with a sentence about the API key |
| 400/422 | failed, recipients NOT_SENT | goes on |
| 404, 415, another status | queued again | stopped: every chunk would get the same response |
| an error that is not SMS.to's | uncertain, because the request may have left | goes on |

A 429's Retry-After is followed up to 5 minutes. When recording an outcome fails, the chunk
still leaves `sending`: uncertain if SMS.to may have accepted it, otherwise queued again.
"""

import logging
import random
import re
import threading
import time
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from core.dispatch import outcomes, states
from core.dispatch.batch import Batch, prepare_batch
from core.dispatch.claim import ClaimedChunk
from core.dispatch.ratelimit import RateLimitTimeout, SharedRateLimiter, Slot
from core.redact import mask_phone
from core.smsto import errors
from core.smsto.results import SendResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """Back-off for requests SMS.to certainly did not accept: exponential, capped, with jitter."""

    base_seconds: float = 1.0
    cap_seconds: float = 60.0
    # After a 429, every dispatcher of the installation pauses its requests this long.
    rate_limited_hold_seconds: float = 1.0

    def delay(self, attempts: int, *, at_least: float = 0.0) -> float:
        exponential = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        # "Equal jitter": half fixed, half random, so retries spread out but still back off.
        return max(at_least, exponential * random.uniform(0.5, 1.0))


@dataclass(frozen=True)
class SendContext:
    """Settings and objects shared by every send of one dispatcher."""

    engine: Engine
    limiter: SharedRateLimiter
    callback_url: str | None
    default_sender_id: str | None
    retry: RetryPolicy
    stop: threading.Event


# A slot taken longer ago than this is replaced before the request, so that the time a slot
# records stays within the limiter's guard of the time the request reaches SMS.to.
SLOT_FRESH_SECONDS = 0.05


def send_chunk(
    context: SendContext, client, claimed: ClaimedChunk, slot: Slot | None = None
) -> str:
    """Send a claimed chunk and record the outcome; return the chunk's new state.

    `slot` is a request slot taken just before the claim, so that a dispatcher waiting for the
    rate limit keeps no chunk in `sending` (a crash then would leave it uncertain).
    """
    try:
        batch = prepare_batch(
            context.engine, claimed=claimed, default_sender_id=context.default_sender_id
        )
        if batch is None:
            if slot is not None:
                context.limiter.release(slot)
            return states.SKIPPED
        if slot is None or time.time() - slot.taken_at > SLOT_FRESH_SECONDS:
            context.limiter.acquire(context.stop)
    except RateLimitTimeout:
        outcomes.record_retry(
            context.engine,
            claimed=claimed,
            error="The dispatcher stopped before sending.",
            delay=0.0,
        )
        return states.QUEUED
    except Exception as exc:
        # Nothing has been sent yet, so giving the chunk back is safe.
        log.exception(
            "campaign %s chunk %s: preparing the request failed",
            claimed.campaign_id,
            claimed.chunk_id,
        )
        reason = f"Preparing the request failed: {exc!r}"
        return _fall_back(context, claimed, reason=reason, maybe_sent=False)

    try:
        result = _request(client, batch, context.callback_url)
    except errors.SmsToError as exc:
        return _record_error_or_fall_back(context, claimed, exc)
    except Exception as exc:
        # Not a response from SMS.to, so the request may have left (see the table above).
        log.exception(
            "campaign %s chunk %s: unexpected error while sending",
            claimed.campaign_id,
            claimed.chunk_id,
        )
        reason = f"Unexpected error while sending: {exc!r}"
        return _fall_back(context, claimed, reason=reason, maybe_sent=True)

    try:
        _store_accepted(context, claimed, result)
    except Exception as exc:
        # SMS.to accepted the request, so the chunk must never be sent again: the reconciler
        # looks an uncertain chunk up and adopts SMS.to's id.
        reason = f"SMS.to accepted the request as {result.provider_id}, but storing that failed: {exc!r}"
        log.exception("campaign %s chunk %s: %s", claimed.campaign_id, claimed.chunk_id, reason)
        return _fall_back(context, claimed, reason=reason, maybe_sent=True)

    log.debug(
        "campaign %s chunk %s accepted as %s",
        claimed.campaign_id,
        claimed.chunk_id,
        result.provider_id,
    )
    return states.ACCEPTED


def _store_accepted(context: SendContext, claimed: ClaimedChunk, result: SendResult) -> None:
    # SMS.to has queued the messages: losing this record would leave the chunk `sending` until it
    # turns uncertain, so a passing database error (a lock held too long) is retried.
    for pause in (0.5, 1.0, 2.0, 4.0, None):
        try:
            outcomes.record_accepted(
                context.engine,
                chunk_id=claimed.chunk_id,
                campaign_id=claimed.campaign_id,
                message_id=result.message_id,
                campaign_ref=result.campaign_id,
            )
            return
        except Exception:
            if pause is None:
                raise
            log.exception(
                "campaign %s chunk %s: storing SMS.to's id %s failed; retrying in %.1f s",
                claimed.campaign_id, claimed.chunk_id, result.provider_id, pause,
            )  # fmt: skip
            time.sleep(pause)


def _request(client, batch: Batch, callback_url: str | None) -> SendResult:
    options = {"sender_id": batch.sender_id, "callback_url": callback_url}
    if batch.shape == states.SINGLE:
        return client.send_single(to=batch.phones[0], message=batch.texts[0], **options)
    if batch.shape == states.BULK:
        return client.send_bulk(to=batch.phones, message=batch.texts[0], **options)

    messages = [{"message": text, "to": phone} for phone, text in zip(batch.phones, batch.texts)]
    return client.send_personalised(messages=messages, **options)


def _record_error_or_fall_back(
    context: SendContext, claimed: ClaimedChunk, exc: errors.SmsToError
) -> str:
    try:
        return _record_error(context, claimed, exc)
    except Exception as failure:
        reason = f"Recording the response ({describe_error(exc)}) failed: {failure!r}"
        log.exception("campaign %s chunk %s: %s", claimed.campaign_id, claimed.chunk_id, reason)
        return _fall_back(context, claimed, reason=reason, maybe_sent=exc.maybe_sent)


def _fall_back(context: SendContext, claimed: ClaimedChunk, *, reason: str, maybe_sent: bool) -> str:
    """Move a chunk out of `sending` after an unexpected error, without sending it twice.

    A request that may have been accepted becomes uncertain, and one that certainly was not is
    queued again after the longest back-off. Each outcome moves only a chunk still `sending`, so
    this cannot undo an outcome that was stored before the error.
    """
    try:
        if maybe_sent:
            outcomes.record_uncertain(context.engine, claimed=claimed, reason=reason)
            return states.UNCERTAIN
        outcomes.record_retry(
            context.engine, claimed=claimed, error=reason, delay=context.retry.cap_seconds
        )
        return states.QUEUED
    except Exception:
        # NOTE: the chunk stays `sending` until `settle_orphans` finds it stale and makes it uncertain.
        log.exception(
            "campaign %s chunk %s: recording the fallback outcome failed too",
            claimed.campaign_id,
            claimed.chunk_id,
        )
        return states.SENDING


def _record_error(context: SendContext, claimed: ClaimedChunk, exc: errors.SmsToError) -> str:
    engine = context.engine
    if exc.maybe_sent:
        outcomes.record_uncertain(engine, claimed=claimed, reason=describe_error(exc))
        return states.UNCERTAIN

    if isinstance(exc, errors.InsufficientBalanceError):
        reason = (
            f"SMS.to refused the send for lack of balance: {exc.provider_message or exc}. "
            "Top up the SMS.to account, then resume the campaign."
        )
        outcomes.record_halt(
            engine,
            claimed=claimed,
            error=describe_error(exc),
            campaign_status=states.CAMPAIGN_PAUSED,
            reason=reason,
        )
        return states.QUEUED

    if isinstance(exc, errors.AuthenticationError):
        reason = (
            "SMS.to rejected the API key (HTTP 401). Check SMSTO_API_KEY against the keys on the "
            "SMS.to dashboard, then resume the campaign."
        )
        outcomes.record_halt(
            engine,
            claimed=claimed,
            error=describe_error(exc),
            campaign_status=states.CAMPAIGN_STOPPED,
            reason=reason,
        )
        return states.QUEUED

    if exc.retryable:
        return _retry_later(context, claimed, exc)

    if isinstance(exc, errors.InvalidRequestError):
        outcomes.record_failed(engine, claimed=claimed, error=describe_error(exc))
        return states.FAILED

    reason = f"Sending stopped because every request would get the same response: {exc}"
    outcomes.record_halt(
        engine,
        claimed=claimed,
        error=describe_error(exc),
        campaign_status=states.CAMPAIGN_STOPPED,
        reason=reason,
    )
    return states.QUEUED


# E.164 numbers (and longer digit runs after a plus) inside SMS.to's messages.
_PHONE = re.compile(r"\+\d{6,15}")


def describe_error(exc: Exception) -> str:
    """Return the error's sentence with any phone number masked, for logs and `last_error`."""
    return _PHONE.sub(lambda match: mask_phone(match.group()), str(exc))


def _retry_later(context: SendContext, claimed: ClaimedChunk, exc: errors.SmsToError) -> str:
    at_least = 0.0
    if isinstance(exc, errors.RateLimitedError):
        # Bounded again here, because an unbounded wait would hold every dispatcher's slots.
        at_least = errors.bounded_retry_after(exc.retry_after) or 0.0
        hold = max(at_least, context.retry.rate_limited_hold_seconds * random.uniform(0.5, 1.0))
        context.limiter.hold(hold)

    delay = context.retry.delay(claimed.attempts, at_least=at_least)
    outcomes.record_retry(context.engine, claimed=claimed, error=describe_error(exc), delay=delay)
    return states.QUEUED
