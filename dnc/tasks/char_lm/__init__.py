"""Character-level language modelling: predict a text one character at a time.

- `text`: the files, the vocabulary (with one unknown symbol), the splits
  and the windows of truncated backpropagation (numpy only);
- `sampling`: text generated from a trained core;
- `serving`: the exported model's signatures that take text;
- `task`: it as a `dnc.tasks.base.Task` (`train_char_lm.py`).
"""
