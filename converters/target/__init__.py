"""Conversion into a real target model: a Keras 3 / tf_keras model, a
``tf.Module`` or a ``tf.train.Checkpoint`` holding a model and its optimizer.

``plan_for_target`` asks TensorFlow which keys the target checkpoints
(``collect``), matches them to source tensors by rules and automatic alignment
(``align``), carries TF1 optimizer slots across (``optimizer``) and returns a
``converters.plan.Plan`` for the executor. Importing this package does not
import TensorFlow; planning does.
"""

from .planner import plan_for_target

__all__ = ["plan_for_target"]
