"""The command layer: one module per command group, each returning its result for the edge to show.

A command parses its options, asks for confirmation after showing a plan, calls the core
and returns the result; ``lumidb.cli`` shows it and exits with the result's code.
"""
