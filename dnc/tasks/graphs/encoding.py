"""Triples of labels as the DNC's inputs and targets, and episodes of them.

As in the Methods of Graves et al. (2016), "Graph task descriptions": every
input step presents one triple (source, edge, destination). A label is a
number 0-999 written as three decimal digits, each one-hot over 10: 30 units
a label, 90 a triple; a label of all zeros is "unspecified" (`UNSPECIFIED`
here). Two binary channels follow: one marks the first step of each phase
after the graph's description (query, planning, answer), the other the
steps at which an answer is required: 92 inputs.

The outputs are nine 10-way softmaxes, one per digit of the target triple
(90 units); the loss is the negative log-probability of the nine digits,
summed over the answer steps. A prediction is each softmax's mode, and an
episode is solved when every answer step's triple is right.

An episode is time-major: the description, the query, the planning steps
(zero inputs) and the answer; a batch pads its episodes at the end, where
the mask is 0. Numpy only.
"""

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

NUM_LABELS = 1000
# Digits of a label, units of a label, of a triple.
DIGITS = 3
LABEL_SIZE = DIGITS * 10
TRIPLE_SIZE = 3 * LABEL_SIZE
# The two binary channels after the triple.
PHASE_CHANNEL = TRIPLE_SIZE
ANSWER_CHANNEL = TRIPLE_SIZE + 1
INPUT_SIZE = TRIPLE_SIZE + 2
# Nine 10-way softmaxes.
TARGET_DIGITS = 3 * DIGITS
OUTPUT_SIZE = TARGET_DIGITS * 10
# A label that is not given (all-zero units).
UNSPECIFIED = -1


def _check_labels(triples: np.ndarray, name: str) -> np.ndarray:
  triples = np.asarray(triples)
  if triples.ndim < 1 or triples.shape[-1] != 3:
    raise ValueError(
      f'`{name}` must have a last axis of 3 (source, edge, destination), '
      f'got shape {triples.shape}.'
    )
  if not np.issubdtype(triples.dtype, np.integer):
    raise ValueError(f'`{name}` must hold integers, got {triples.dtype}.')
  if np.any((triples < UNSPECIFIED) | (triples >= NUM_LABELS)):
    raise ValueError(
      f'`{name}` must hold labels in 0..{NUM_LABELS - 1} or '
      f'{UNSPECIFIED} (unspecified), got {triples.min()}..{triples.max()}.'
    )
  return triples.astype(np.int64)


def target_digits(triples: np.ndarray) -> np.ndarray:
  """The nine digits of triples, most significant first.

  Args:
    triples: int `[..., 3]`, labels 0-999 (no unspecified label).

  Returns:
    int32 `[..., 9]`: each label's hundreds, tens and units.
  """
  triples = _check_labels(triples, 'triples')
  if np.any(triples == UNSPECIFIED):
    raise ValueError('`triples`: a target has no unspecified label.')
  powers = 10 ** np.arange(DIGITS - 1, -1, -1)  # 100, 10, 1
  digits = triples[..., None] // powers % 10
  return digits.reshape(triples.shape[:-1] + (TARGET_DIGITS,)).astype(np.int32)


def triples_of_digits(digits: np.ndarray) -> np.ndarray:
  """The triples `[..., 3]` of nine digits `[..., 9]` (`target_digits`'s
  inverse)."""
  digits = np.asarray(digits)
  if digits.shape[-1] != TARGET_DIGITS:
    raise ValueError(
      f'`digits` must have a last axis of {TARGET_DIGITS}, got shape '
      f'{digits.shape}.'
    )
  grouped = digits.reshape(digits.shape[:-1] + (3, DIGITS)).astype(np.int64)
  return grouped @ (10 ** np.arange(DIGITS - 1, -1, -1))


def encode_triples(triples: np.ndarray) -> np.ndarray:
  """The 90 input units of triples.

  Args:
    triples: int `[..., 3]`, labels 0-999 or `UNSPECIFIED`.

  Returns:
    float32 `[..., 90]`: per label, three one-hot digits; zeros for an
    unspecified label.
  """
  triples = _check_labels(triples, 'triples')
  specified = np.where(triples == UNSPECIFIED, 0, triples)
  digits = target_digits(specified).reshape(triples.shape[:-1] + (3, DIGITS))
  units = np.eye(10, dtype=np.float32)[digits]  # [..., 3, DIGITS, 10]
  units *= (triples != UNSPECIFIED)[..., None, None]
  return units.reshape(triples.shape[:-1] + (TRIPLE_SIZE,))


def decode_triples(units: np.ndarray) -> np.ndarray:
  """The triples `[..., 3]` of input units `[..., >= 90]` (the first 90).

  Raises:
    ValueError: a label's units are neither zeros nor three one-hot digits.
  """
  units = np.asarray(units)[..., :TRIPLE_SIZE]
  digits = units.reshape(units.shape[:-1] + (3, DIGITS, 10))
  sums = digits.sum(-1)
  # Per label: all zeros, or each digit's units one 1 and nine 0s.
  zero = np.all(sums == 0, -1)
  binary = np.all((digits == 0) | (digits == 1), (-2, -1))
  one_hot = np.all(sums == 1, -1) & binary
  if not np.all(zero | one_hot):
    raise ValueError('`units`: a label is neither zeros nor one-hot digits.')
  labels = np.argmax(digits, -1) @ (10 ** np.arange(DIGITS - 1, -1, -1))
  return np.where(zero, UNSPECIFIED, labels)


def log_softmax_digits(logits: np.ndarray) -> np.ndarray:
  """Each digit's log-probabilities `[..., 9, 10]` of logits `[..., 90]`."""
  logits = np.asarray(logits, np.float64)
  grouped = logits.reshape(logits.shape[:-1] + (TARGET_DIGITS, 10))
  shifted = grouped - grouped.max(-1, keepdims=True)
  return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def predicted_triples(logits: np.ndarray) -> np.ndarray:
  """The triples `[..., 3]` of each softmax's mode, of logits `[..., 90]`."""
  logits = np.asarray(logits)
  grouped = logits.reshape(logits.shape[:-1] + (TARGET_DIGITS, 10))
  return triples_of_digits(np.argmax(grouped, -1))


def triple_log_probabilities(
  logits: np.ndarray, triples: np.ndarray
) -> np.ndarray:
  """The log-probability of each of some triples under one step's output.

  Used to renormalise the output over the triples allowed (the current
  node's outgoing edges): the best of them has the highest.

  Args:
    logits: `[90]`, one step's outputs.
    triples: int `[K, 3]`.

  Returns:
    float64 `[K]`: the sums of the nine digits' log-probabilities.
  """
  log_p = log_softmax_digits(np.asarray(logits).reshape(OUTPUT_SIZE))
  digits = target_digits(triples)  # [K, 9]
  return log_p[np.arange(TARGET_DIGITS), digits].sum(-1)


def solved(
  logits: np.ndarray, target: np.ndarray, mask: np.ndarray
) -> np.ndarray:
  """Which episodes of a batch have every answer step's nine digits right.

  Args:
    logits: `[T, B, 90]`.
    target: int `[T, B, 9]`.
    mask: `[T, B]`, 1 at answer steps.

  Returns:
    bool `[B]`.
  """
  logits = np.asarray(logits)
  grouped = logits.reshape(logits.shape[:-1] + (TARGET_DIGITS, 10))
  right = np.all(np.argmax(grouped, -1) == np.asarray(target), -1)
  return np.all(right | (np.asarray(mask) == 0), 0)


class Episode(NamedTuple):
  """One episode, time-major.

  Attributes:
    inputs: float32 `[T, 92]`.
    target: int32 `[T, 9]`, zeros but at answer steps.
    mask: float32 `[T]`, 1 at answer steps.
    answer_start: the index of the first answer step.
  """

  inputs: np.ndarray
  target: np.ndarray
  mask: np.ndarray
  answer_start: int


def episode(
  description: np.ndarray,
  query: np.ndarray,
  planning_steps: int,
  answer_inputs: np.ndarray,
  answers: np.ndarray | None,
) -> Episode:
  """Lays out one episode's phases.

  Args:
    description: int `[E, 3]`, the graph's triples in the order shown.
    query: int `[Q, 3]`, Q >= 1 (unspecified labels allowed).
    planning_steps: steps of zero input between the query and the answer.
    answer_inputs: int `[A, 3]`, what each answer step shows (all
      unspecified but for the shortest path's previous action), A >= 1.
    answers: int `[A, 3]`, the target triples; None: no targets (zeros,
      masked out), for an episode whose answer is scored otherwise.

  Returns:
    The episode, of E + Q + planning_steps + A steps.
  """
  description = np.asarray(description).reshape(-1, 3)
  query = np.asarray(query).reshape(-1, 3)
  answer_inputs = np.asarray(answer_inputs).reshape(-1, 3)
  if not len(query) or not len(answer_inputs):
    raise ValueError('`query` and `answer_inputs` need one triple or more.')
  if planning_steps < 0:
    raise ValueError(f'`planning_steps` must be >= 0, got {planning_steps}.')
  blank = np.full((planning_steps, 3), UNSPECIFIED)
  triples = np.concatenate([description, query, blank, answer_inputs])
  inputs = np.zeros((len(triples), INPUT_SIZE), np.float32)
  inputs[:, :TRIPLE_SIZE] = encode_triples(triples)
  query_start = len(description)
  answer_start = query_start + len(query) + planning_steps
  # The first step of each phase after the description.
  inputs[query_start, PHASE_CHANNEL] = 1
  if planning_steps:
    inputs[query_start + len(query), PHASE_CHANNEL] = 1
  inputs[answer_start, PHASE_CHANNEL] = 1
  inputs[answer_start:, ANSWER_CHANNEL] = 1
  target = np.zeros((len(triples), TARGET_DIGITS), np.int32)
  mask = np.zeros(len(triples), np.float32)
  if answers is not None:
    answers = np.asarray(answers).reshape(-1, 3)
    if len(answers) != len(answer_inputs):
      raise ValueError(
        f'`answers` must have one triple per answer step '
        f'({len(answer_inputs)}), got {len(answers)}.'
      )
    target[answer_start:] = target_digits(answers)
    mask[answer_start:] = 1
  return Episode(inputs, target, mask, answer_start)


def stack(
  episodes: Sequence[Episode], length: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """A time-major batch of episodes, padded at the end.

  Args:
    episodes: B episodes.
    length: the batch's T (at least the longest episode's); None: the
      longest episode's.

  Returns:
    inputs float32 `[T, B, 92]`, target int32 `[T, B, 9]`, mask float32
    `[T, B]`.
  """
  longest = max(len(e.mask) for e in episodes)
  length = longest if length is None else length
  if length < longest:
    raise ValueError(
      f'`length` {length} is shorter than the longest episode ({longest}).'
    )
  inputs = np.zeros((length, len(episodes), INPUT_SIZE), np.float32)
  target = np.zeros((length, len(episodes), TARGET_DIGITS), np.int32)
  mask = np.zeros((length, len(episodes)), np.float32)
  for b, e in enumerate(episodes):
    n = len(e.mask)
    inputs[:n, b], target[:n, b], mask[:n, b] = e.inputs, e.target, e.mask
  return inputs, target, mask
