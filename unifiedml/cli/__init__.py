"""The ``unifiedml`` command line: a thin layer over the SDK, one module per command group.

Modules here import only typer at import time; the SDK, rich tables and any
vendor SDK are imported inside the commands, so ``unifiedml --help`` stays fast.
"""
