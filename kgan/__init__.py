"""kgan: train, evaluate and serve anime-avatar GANs with Keras 3 and TensorFlow."""

from kgan.system.cpu import choose_convolution_backend

__version__ = "0.1.0"

choose_convolution_backend()  # before anything imports TensorFlow
