"""Placeholder page, filled in next."""

import streamlit as st

st.title("lists")
