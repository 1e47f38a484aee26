"""The dispatcher: sends queued campaigns to SMS.to at most once per recipient.

`Dispatcher` runs the loop; `core.dispatch.controls` contains the operator's controls.
"""

from core.dispatch.worker import Dispatcher, DispatchSummary, default_client_factory

__all__ = ["DispatchSummary", "Dispatcher", "default_client_factory"]
