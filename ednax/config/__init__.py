"""Config: compose (Hydra), validate against the registry, resolve every default."""
