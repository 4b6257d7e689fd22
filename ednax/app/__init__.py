"""The application layer: what a user asks of ednax (run, validate, resume, rerun, sweep,
predict from a bundle), each one function that the CLI, the Python API and scripts call.

Options arrive as arguments and go on to the engine as arguments. Nothing here prints
except through the `say` callable a caller passes; errors are EdnaxErrors.
"""
