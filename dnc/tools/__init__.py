"""Tools that work on any run's checkpoint directory.

- `restore`: a run's core and task, rebuilt from its directory;
- `export`: a checkpoint as a SavedModel (`python -m dnc.export`);
- `visualize`: figures of a checkpoint's memory (`python -m dnc.visualize`);
- `pretrained`: a run's model as a folder to ship and train on from
  (`python -m dnc.tools.pretrained`), with `predictions` (its recorded
  outputs, checked again) and `record` (its `RECORD.md`).
"""
