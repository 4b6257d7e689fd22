"""Built-in step classes, one module per kind. Nothing heavy is imported here."""
