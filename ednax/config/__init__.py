"""ednax.config."""
