"""A sandbox SMS.to provider on loopback: the same endpoints, errors, limits and delivery reports.

Run it with `smsto-console sandbox`, or build it with `core.sandbox.app.create_app`. This package
stays light to import, because `core.cli` reads its options at every start.
"""
