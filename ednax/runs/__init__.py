"""ednax.runs."""
