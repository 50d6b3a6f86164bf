"""Training tasks: the `Task` interface (`base`) and the built-in tasks.

- `base`: `Task`, what the training loop asks of a task;
- `repeat_copy`: the repeat-copy task (`data`, and it as a `Task`: `task`);
- `babi`: the bAbI question-answering tasks.
"""
