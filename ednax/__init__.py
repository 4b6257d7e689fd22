"""ednax: a YAML-config-driven experiment runner for ML research."""

__version__ = "0.1.0"
