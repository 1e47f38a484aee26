"""Domain exceptions shared by every part of the product.

Each message names the value, what is wrong with it and what the operator can do about it. The
webhook server turns them into HTTP answers and the dashboard into `st.error` sentences.
"""


class InputError(ValueError):
    """Operator input (a file, a message, a sender ID, a setting) that cannot be used as given."""


class NotFoundError(LookupError):
    """A campaign, list or report that the caller named does not exist."""


class LaunchError(RuntimeError):
    """A campaign that cannot be launched as requested."""
