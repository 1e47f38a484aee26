"""Placeholder page, filled in next."""

import streamlit as st

st.title("callback_health")
