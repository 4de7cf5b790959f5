"""The local backend: TensorFlow training and serving on this machine (see :mod:`.provider`)."""
