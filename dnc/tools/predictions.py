"""A model's outputs on a fixed batch, recorded and compared again.

A pretrained folder (`dnc.tools.pretrained`) holds `predictions.json`: the
inputs of the task's `prediction_batch` and, at each position its mask
counts, the model's answer (the argmax word for a task of words, else the
bits whose logit is positive) and its margin (between the two best
logits; the smallest absolute logit), and the whole logits of the first
few positions. `compare` reruns a restored model on the recorded inputs:
today's code must give the logits within `ATOL` and the same answers
wherever the margin is wider than twice that (where it is narrower, a
change within the tolerance may flip the answer honestly).
"""

from typing import Any

import numpy as np

from dnc.tools import restore
from dnc.train import loop

PREDICTIONS_FILE = 'predictions.json'
ATOL = 1e-4
# Positions whose whole logits are recorded.
_LOGIT_POSITIONS = 4


def logits_of(restored: restore.Restored, observations: Any) -> np.ndarray:
  """The restored model's logits `[T, B, output_size]` of observations
  `[T, B, ...]` (as the task's batches hold them), as `--mode=eval` computes
  them (without XLA)."""
  forward = loop.make_logits_of(restored.core, restored.task, False)
  return forward(observations).numpy()


def _answers(restored, logits):
  """Answers `[..., ]` (ids, or bits `[..., output_size]`) and margins."""
  if restored.task.vocabulary_size is not None:  # One word of many.
    top = np.sort(logits, axis=-1)
    return logits.argmax(-1), top[..., -1] - top[..., -2]
  return (logits > 0).astype(np.int64), np.abs(logits).min(-1)


def record(restored: restore.Restored, batch: Any) -> dict[str, Any]:
  """What `predictions.json` holds: the batch's inputs and the outputs.

  Args:
    restored: a restored model (`dnc.tools.restore.load`).
    batch: numpy `DatasetTensors` (`Task.prediction_batch`): observations
      `[T, B, ...]`, mask `[T, B]`.

  Returns:
    A JSON-ready dict (see the module docstring).
  """
  observations = np.asarray(batch.observations)
  logits = logits_of(restored, observations)
  positions = np.argwhere(np.asarray(batch.mask) > 0)  # [P, 2]: t, b.
  answers, margins = _answers(restored, logits[tuple(positions.T)])
  return {
    'step': restored.step,
    'observations': observations.tolist(),
    'dtype': str(observations.dtype),
    'positions': positions.tolist(),
    'answers': answers.tolist(),
    'margins': np.round(margins.astype(np.float64), 6).tolist(),
    'logits': [
      np.round(logits[t, b].astype(np.float64), 6).tolist()
      for t, b in positions[:_LOGIT_POSITIONS]
    ],
    'atol': ATOL,
  }


def compare(restored: restore.Restored, recorded: dict[str, Any]) -> list[str]:
  """How the restored model's outputs differ from `recorded` (`record`'s).

  Returns:
    One line per difference; empty when it reproduces them.
  """
  observations = np.asarray(recorded['observations'], recorded['dtype'])
  logits = logits_of(restored, observations)
  positions = np.asarray(recorded['positions'], np.int64).reshape(-1, 2)
  problems = []
  for (t, b), expected in zip(positions, recorded['logits'], strict=False):
    error = np.abs(logits[t, b] - np.asarray(expected)).max()
    if error > recorded['atol']:
      problems.append(f'logits at step {t}, sequence {b}: off by {error:.2g}')
  answers, _ = _answers(restored, logits[tuple(positions.T)])
  for (t, b), answer, expected, margin in zip(
    positions, answers.tolist(), recorded['answers'], recorded['margins'],
    strict=True,
  ):  # fmt: skip
    if margin > 2 * recorded['atol'] and answer != expected:
      problems.append(
        f'answer at step {t}, sequence {b}: {answer}, recorded {expected}'
      )
  return problems
