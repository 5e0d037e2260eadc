"""Operator tools: the local stack, its bootstrap, and the ``payments-admin`` CLI."""
