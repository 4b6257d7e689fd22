"""ednax's Optuna sweeper for Hydra: `hydra/sweeper=ednax_optuna`."""
