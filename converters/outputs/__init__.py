"""Output formats any Keras 3 backend loads."""
