"""The Lightning engine: torch models trained through PyTorch Lightning.

`fit.fit_torch` is the entry point; `module.EdnaxModule` is the built-in train loop (and
the base class of custom ones), `loader.TensorBatches` the in-memory batcher and
`callbacks.EpochRecord` the per-epoch history and checkpoints. Importing this package
imports neither torch nor Lightning; its modules do.
"""
