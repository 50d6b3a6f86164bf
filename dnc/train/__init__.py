"""The training machinery every task shares.

- `trainer`: the core's unroll and the compiled RMSProp step (`Trainer`);
- `loop`: the training loop and the `--mode=eval` harness of the scripts;
- `flags`: the model, optimiser and run flags, defined once;
- `checkpoints`: checkpoints that carry their config, signals, peak memory;
- `rmsprop`, `distribute`, `summaries`: the optimiser, data-parallel
  training and TensorBoard records.

Nothing here names a task: a task is a `dnc.tasks.base.Task`.
"""
