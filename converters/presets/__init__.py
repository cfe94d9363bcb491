"""Presets: named conversions of model-zoo checkpoints into Keras models."""
