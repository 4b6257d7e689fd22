"""ednax.cli."""
