"""The browser address: which page this run opened, and query parameters kept in step with it.

Streamlit 1.67's browser client applies a query-parameter change to the path it shows at that
moment. On the run that opens a page, it sets the new path only after the page's first messages
arrive. A write on that run is therefore pushed onto the previous page's path: `?id=3` on the
Campaign page just opened from Callback health becomes `/callback_health?id=3`. Pages write a
parameter only on later runs of the same page, where the path is already right, and never when
the value is unchanged.
"""

import streamlit as st

_CURRENT_PAGE = "address_current_page"
_OPENED = "address_page_opened"


def record_page(url_path: str) -> None:
    """Remember the page of this full run, and whether the previous run showed another one.

    `app.py` calls it before running the page, so it covers every full run but no fragment run.
    The first run of a session (a new tab, a reload, a reconnect) counts as opening the page.
    """
    previous = st.session_state.get(_CURRENT_PAGE)
    st.session_state[_CURRENT_PAGE] = url_path
    st.session_state[_OPENED] = previous != url_path


def page_just_opened() -> bool:
    """Tell whether this run opened the page, as opposed to rerunning the page already shown."""
    return st.session_state.get(_OPENED, True)


def keep_in_address(name: str, value: str) -> None:
    """Write the query parameter `name`, unless it already has `value` or the page just opened."""
    if st.query_params.get(name) == value or page_just_opened():
        return
    st.query_params[name] = value
