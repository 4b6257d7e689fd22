"""ednax.engine."""
