"""The GSM-7 rewrite panel of the launch forms: what it replaces, what it saves, and its button."""

import logging
from dataclasses import dataclass
from decimal import Decimal

import pandas as pd
import streamlit as st

from core.gsm_rewrite import RewriteSuggestion
from core.money import format_money
from core.preview import RowsPreview, suggest_campaign_rewrite
from core.sms_parts import GSM7
from dashboard import compose

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Saving:
    """The change a rewrite makes over its scope: parts and cost saved (negative when it adds).

    `scope` ends the sentences that state a saving. `unchanged` starts the sentence that states
    the parts kept when there is no saving.
    """

    suggestion: RewriteSuggestion
    parts: int
    cost: Decimal
    scope: str
    unchanged: str


def render_rewrite(
    message: str,
    check: compose.MessageCheck,
    candidates: pd.DataFrame | None,
    preview: RowsPreview | None,
    country: str,
) -> None:
    """Offer the GSM-7 rewrite with a table of its replacements; only the button applies it.

    `candidates` are the rows the message may go to and `preview` their parts and cost, so the
    saving covers the rows that will be sent, as the totals do.
    """
    if check.rewrite is None:
        return

    saving = _list_saving(message, candidates, preview, country) or _message_saving(check)
    suggestion = saving.suggestion
    st.markdown("**GSM-7 rewrite suggestion**")
    st.dataframe(compose.rewrite_table(suggestion), hide_index=True)

    changes_encoding = suggestion.before.encoding != suggestion.after.encoding
    offer = _describe(saving, changes_encoding)
    st.code(suggestion.text, language=None, wrap_lines=True)
    if suggestion.unresolved:
        kept = "".join(sorted({found.char for found in suggestion.unresolved}))
        st.caption(f"Still UCS-2 after the rewrite because of: {kept}")
    if offer:
        st.button(offer, key="apply_rewrite", on_click=_apply, args=(suggestion.text,))


def _list_saving(
    message: str, candidates: pd.DataFrame | None, preview: RowsPreview | None, country: str
) -> Saving | None:
    if candidates is None or candidates.empty or preview is None or preview.recipients == 0:
        return None
    campaign = suggest_campaign_rewrite(
        message, candidates, country_column="region", default_region=country
    )
    if campaign is None:
        return None

    rows = f"the {compose.count_noun(preview.recipients, 'row')} that will be sent"
    if preview.skipped:
        rows += f" ({compose.count_noun(preview.skipped, 'row')} skipped)"
    parts = compose.count_noun(preview.parts, "part")
    unchanged = f"{rows[0].upper()}{rows[1:]} stay at {parts} in all"
    return Saving(
        campaign.suggestion, campaign.parts_saved, campaign.cost_saved, f"over {rows}", unchanged
    )


def _message_saving(check: compose.MessageCheck) -> Saving:
    suggestion = check.rewrite
    cost = suggestion.cost_saved if suggestion.cost_saved is not None else Decimal(0)
    unchanged = f"The message stays at {compose.count_noun(suggestion.before.parts, 'part')}"
    return Saving(suggestion, suggestion.parts_saved, cost, "per message", unchanged)


def _describe(saving: Saving, changes_encoding: bool) -> str | None:
    """Show what the rewrite does and return the apply button's label, or None for no button."""
    parts = compose.count_noun(abs(saving.parts), "part")
    cost = format_money(abs(saving.cost)) or "0"
    if saving.parts > 0 or saving.cost > 0:
        st.info(f"The rewrite saves {parts} and {cost} EUR {saving.scope}.")
        return "Apply the suggested rewrite"
    if saving.parts < 0 or saving.cost < 0:
        st.warning(
            f"The rewrite would add {parts} and {cost} EUR {saving.scope}, because the text stays "
            "UCS-2 and the stand-ins are longer, so it is not offered."
        )
        return None

    if changes_encoding:
        st.info(
            f"{saving.unchanged} with the rewrite, so it saves nothing now. It changes the encoding to {GSM7}, which "
            "fits 160 characters in a part instead of 70, so later edits have more room."
        )
        return f"Apply the rewrite anyway ({GSM7}, same parts)"
    st.info(
        f"{saving.unchanged} with or without the rewrite, and the text stays UCS-2, so there is "
        "nothing to apply."
    )
    return None


def _apply(text: str) -> None:
    # Runs before the next script run, so the text area shows the rewritten message.
    st.session_state["message"] = text
