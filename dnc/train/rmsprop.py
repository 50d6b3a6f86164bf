"""RMSProp with Sonnet's maths, which also runs under `tf.distribute`.

`snt.optimizers.RMSProp` refuses every strategy but Sonnet's own
(`snt.distribute.Replicator`), and creates its slots inside the first
`apply`, where `MirroredStrategy` and `MultiWorkerMirroredStrategy` cannot
mirror them. This module keeps Sonnet's update and checkpoint layout (the
slot lists `mom` and `ms`, so checkpoints move between the two), creates
its slots in `build` (in a strategy's scope, eagerly) and applies updates
through the strategy, so that every replica's copy of a variable takes the
same step:

  ms  <- decay * ms + (1 - decay) * g^2
  mom <- momentum * mom + learning_rate * g / sqrt(ms + epsilon)
  w   <- w - mom
"""

from collections.abc import Sequence

import sonnet as snt
import tensorflow as tf


def _update(parameter, update, mom, ms, learning_rate, decay, momentum, eps):
  """One variable's update, on one device; Sonnet's `rmsprop_update`."""
  dtype = update.dtype
  decay = tf.cast(decay, dtype)
  new_ms = tf.square(update) * (1.0 - decay) + ms * decay
  new_mom = tf.cast(momentum, dtype) * mom + tf.cast(
    learning_rate, dtype
  ) * update * tf.math.rsqrt(new_ms + tf.cast(eps, dtype))
  return tf.group(
    parameter.assign_sub(new_mom), mom.assign(new_mom), ms.assign(new_ms)
  )


class RMSProp(snt.Module):
  """`snt.optimizers.RMSProp` (uncentred) for any `tf.distribute` strategy.

  Attributes:
    learning_rate, decay, momentum, epsilon: as `snt.optimizers.RMSProp`'s.
    mom, ms: the slots, one per parameter, in the order of `build`'s.
  """

  def __init__(
    self,
    learning_rate: float | tf.Variable,
    decay: float = 0.9,
    momentum: float = 0.0,
    epsilon: float = 1e-10,
    name: str | None = None,
  ):
    super().__init__(name=name)
    self.learning_rate = learning_rate
    self.decay = decay
    self.momentum = momentum
    self.epsilon = epsilon
    self.mom = []
    self.ms = []

  def build(self, parameters: Sequence[tf.Variable]) -> None:
    """Creates the slots of `parameters` (once; later calls do nothing).

    Call it in the strategy's scope, in cross-replica context, before the
    first `apply` under a strategy (without one, `apply` builds too).
    """
    if self.ms:
      return

    def zeros_like(parameter):
      name = parameter.name.split(':')[0]
      return tf.Variable(
        tf.zeros(parameter.shape, parameter.dtype), trainable=False, name=name
      )

    with tf.name_scope('momentum'):
      self.mom.extend(zeros_like(p) for p in parameters)
    with tf.name_scope('rms'):
      self.ms.extend(zeros_like(p) for p in parameters)

  def apply(
    self,
    updates: Sequence[tf.Tensor | None],
    parameters: Sequence[tf.Variable],
  ) -> None:
    """Applies `updates` (e.g. gradients; None: skip) to `parameters`.

    In a replica's context (`strategy.run`), `updates` must be the same on
    every replica (all-reduced); each device's copy then takes the update.

    Raises:
      ValueError: `updates` and `parameters` of different lengths, or
        parameters other than those the slots were built for.
    """
    if len(updates) != len(parameters):
      raise ValueError(
        f'`updates` has {len(updates)} entries but `parameters` has '
        f'{len(parameters)}.'
      )
    if not tf.distribute.has_strategy():
      self.build(parameters)
    if len(self.ms) != len(parameters):
      raise ValueError(
        f'`parameters`: {len(parameters)} given, but the slots were built '
        f'for {len(self.ms)} (call `build` with the same parameters).'
      )
    context = tf.distribute.get_replica_context()
    if context is None:  # Cross-replica context.
      self._apply(tf.distribute.get_strategy(), updates, parameters)
    else:
      context.merge_call(self._apply, args=(updates, parameters))

  def _apply(self, strategy, updates, parameters):
    for update, parameter, mom, ms in zip(
      updates, parameters, self.mom, self.ms, strict=True
    ):
      if update is None:
        continue
      strategy.extended.update(
        parameter,
        _update,
        args=(
          update,
          mom,
          ms,
          self.learning_rate,
          self.decay,
          self.momentum,
          self.epsilon,
        ),
        group=False,
      )
