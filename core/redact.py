"""Redaction of personal data before it reaches a log line."""


def mask_phone(phone: str | None) -> str:
    """Mask all but the country prefix and the last two digits, e.g. `+357******67`."""
    if not phone:
        return "<none>"

    text = str(phone).strip()
    if len(text) <= 4:
        return "*" * len(text)

    head = text[:4]
    tail = text[-2:]
    return head + "*" * (len(text) - 6) + tail
