"""The public names of the commands `python -m dnc.babi` and `dnc.babi.curve`.

The bAbI task's code lives in `dnc.tasks.babi`.
"""
