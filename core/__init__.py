"""Domain logic, storage and the SMS.to client of smsto-console.

Nothing in this package imports Streamlit or the web framework, so the dashboard, the companion
server and the command line can all share it.
"""
