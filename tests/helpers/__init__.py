"""Helpers shared by tests (model builders); importing this package does not import TensorFlow."""
