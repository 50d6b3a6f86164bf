"""`RECORD.md`, a pretrained folder's record, rendered from its data.

`dnc.tools.pretrained` writes it again from `record.json`, `config.json`
and `validation.jsonl` each time it updates the folder; only the text after
the `## Notes` heading is the user's, and is kept.
"""

from collections.abc import Mapping
from collections.abc import Sequence
import os
from typing import Any

RECORD_MD = 'RECORD.md'
NOTES = '## Notes'
# Validation fields shown as columns where the records have them.
_SEEN = ('stories_seen', 'epochs_seen')


def read_notes(path: str) -> str:
  """The text after the `## Notes` heading of `path`; '' if none."""
  if not os.path.exists(path):
    return ''
  with open(path) as f:
    text = f.read()
  _, heading, notes = text.partition(NOTES + '\n')
  return notes.strip() if heading else ''


def _number(value: Any) -> str:
  return f'{value:.4g}' if isinstance(value, float) else str(value)


def _flag(value: Any) -> str:
  if isinstance(value, list) and len(value) > 8:
    return f'{len(value)} entries (config.json)'
  return f'`{_number(value)}`' if value != '' else "`''`"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list:
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  return lines + ['| ' + ' | '.join(map(str, row)) + ' |' for row in rows]


def _seen(rows: Sequence[Mapping[str, Any]], step: int) -> list[str]:
  """The `_SEEN` counters of the validation record at `step`, if any."""
  at = [row for row in rows if row['step'] == step]
  return [_number(at[0][k]) if at and k in at[0] else '' for k in _SEEN]


def render(
  record: Mapping[str, Any],
  config: Mapping[str, Any],
  rows: Sequence[Mapping[str, Any]],
  notes: str = '',
) -> str:
  """The text of `RECORD.md`.

  Args:
    record: `record.json`: `name`, `task`, `step`, `segments` (each with
      `run`, `init_from`, `from_step`, `to_step`, `from_hours`,
      `to_hours`, `commands`), `test` (`table`, `results`) and `made_by`.
    config: the run's `config.json`.
    rows: the validation records of every segment, by step.
    notes: the text to keep under the `## Notes` heading.
  """
  segments = record['segments']
  hours = sum(s['to_hours'] - s['from_hours'] for s in segments)
  lines = [
    f'# {record["name"]}',
    '',
    f'A pretrained `{record["task"]}` model: step {record["step"]}, '
    f'{hours:.2f} training hours in {len(segments)} segment(s). Load it with '
    f"`dnc.tools.restore.load('pretrained/{record['name']}')`; train on "
    f'from it with `--init_from=pretrained/{record["name"]}`.',
    '',
    'Written by `python -m dnc.tools.pretrained` from `record.json`, '
    '`config.json` and `validation.jsonl`: edit only the notes at the end.',
    '',
    '## Flags',
    '',
    *_table(
      ('flag', 'value'),
      [(f'`--{key}`', _flag(value)) for key, value in sorted(config.items())],
    ),
    '',
    '## Segments',
    '',
    'Each segment is one training run (`--checkpoint_dir`) that started '
    'from the weights of the one before (`--init_from`): the step, the '
    'stories seen and the training hours go on, but the optimiser state '
    "(RMSProp's averages and momentum) and the data order restart at each "
    'segment. Hours are wall-clock hours of the training loop.',
    '',
    *_table(
      ('#', 'steps', *_SEEN, 'hours', 'run', 'started from'),
      [
        (
          i + 1,
          f'{s["from_step"]} → {s["to_step"]}',
          *_seen(rows, s['to_step']),
          f'{s["to_hours"] - s["from_hours"]:.2f}',
          f'`{s["run"]}`',
          f'`{s["init_from"]}`' if s['init_from'] else 'scratch',
        )
        for i, s in enumerate(segments)
      ],
    ),
    '',
    '## Commands',
    '',
  ]
  for i, segment in enumerate(segments):
    commands = segment['commands'] or ['(not recorded)']
    lines += [f'Segment {i + 1}:', '', '```sh', *commands, '```', '']
  lines += ['This folder:', '', '```sh', record['made_by'] or '(not recorded)']
  lines += ['```', '']
  lines += ['## Validation', '']
  if rows:
    lines += _table(
      ('step', *_SEEN, 'hours', 'score', 'best', 'summary'),
      [
        (
          row['step'],
          *_seen([row], row['step']),
          f'{row.get("train_hours", 0):.2f}',
          f'{row["score"]:.4g}',
          '✓' if row.get('best') else '',
          row.get('summary', ''),
        )
        for row in rows
      ],
    )
  else:
    lines += ['None recorded (the task holds out no validation data).']
  lines += ['', '## Test', '']
  test = record.get('test') or {}
  lines += [
    test['table'].strip()
    if test
    else 'None recorded: evaluate the checkpoint (`--mode=eval '
    '--results=PATH`), then run `dnc.tools.pretrained` again with '
    '`--results=PATH`.'
  ]
  lines += ['', NOTES, '', notes, '']
  return '\n'.join(lines).rstrip('\n') + '\n'
