"""Repeat-copy: the data (`data`), and it as a training task (`task`)."""
