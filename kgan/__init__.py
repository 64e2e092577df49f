"""kgan: train, evaluate and serve anime-avatar GANs with Keras 3 and TensorFlow."""

__version__ = "0.1.0"
