"""Gradients summed in a fixed order, so that a run is bit-for-bit repeatable.

When a tensor feeds several ops, backpropagation sums one gradient per use. TensorFlow's
GradientTape sums them with one `AddN`, and TensorFlow's `AddN` kernel accumulates into
whichever input buffer it may reuse — the first input no other op still holds, which
depends on which op happened to finish last. The order of a float sum of three or more
terms therefore changes from one step to the next and from one process to the next. Two
terms cannot go wrong (a + b equals b + a in IEEE arithmetic), which is why the baseline,
whose D variables get two gradients (real, fake), repeated; the critic with the gradient
penalty gets three or more (real, fake, and the penalty's forward and backward paths)
and did not.

Two changes make every sum fixed:
- the tape adds a variable's gradients as a chain of two-term adds, ((g0 + g1) + g2) + …,
  in the order the tape found them, which is the same on every trace;
- Grappler's arithmetic optimizer is off: its "add ops rewrite" merges such a chain back
  into one `AddN` of many inputs.

Both are private TensorFlow details, hence this one module: `install` re-registers the
tape's gradient space (TensorFlow's own, with only its `aggregate_fn` replaced), and
`tests/test_determinism.py` fails loudly if the train step TensorFlow executes (after
Grappler) again holds an `AddN` of more than two inputs.
"""

from __future__ import annotations

import functools

import tensorflow as tf


def _fixed_order(original):
    from tensorflow.python.framework import tensor as tensor_lib

    def aggregate(gradients):
        if len(gradients) > 2 and all(isinstance(gradient, tensor_lib.Tensor) for gradient in gradients):
            return functools.reduce(tf.math.add, gradients)
        return original(gradients)  # one or two terms, or sparse (IndexedSlices) gradients

    aggregate.kgan_fixed_order = True
    return aggregate


def install() -> None:
    """Make every gradient sum of this process fixed in order (idempotent)."""
    from tensorflow.python import pywrap_tfe
    from tensorflow.python.eager import backprop

    space = backprop._default_vspace
    if not getattr(space.aggregate_fn, "kgan_fixed_order", False):
        space = space._replace(aggregate_fn=_fixed_order(space.aggregate_fn))
        pywrap_tfe.TFE_Py_RegisterVSpace(space)
        backprop._default_vspace = space
    tf.config.optimizer.set_experimental_options({"arithmetic_optimization": False})


def installed() -> bool:
    """Whether `install` is in effect."""
    from tensorflow.python.eager import backprop

    options = tf.config.optimizer.get_experimental_options()
    return getattr(backprop._default_vspace.aggregate_fn, "kgan_fixed_order", False) and (
        options.get("arithmetic_optimization") is False
    )
