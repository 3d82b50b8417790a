"""The command layer: options, confirmation and rendering; one module per command group."""
