"""Training tasks: the `Task` interface (`base`), the built-in tasks and
the registry that lets tools rebuild any run's task by name.

- `base`: `Task`, what the training loop and the tools ask of a task;
- `repeat_copy`: the repeat-copy task (`data`, and it as a `Task`: `task`);
- `babi`: the bAbI question-answering tasks;
- `char_lm`: character-level language modelling of a text file;
- `graphs`: the paper's graph tasks (traversal, shortest path, inference).

A task registers itself under a name:

  @tasks.register('delayed_copy')
  class DelayedCopyTask(base.Task): ...

The training loop records the name and the task's module in a run's
`config.json` (`config_entries`), and the tools find the class again with
`of_config`, importing that module, so a task defined outside `dnc` works as
well as a built-in one. This module imports no TensorFlow: the built-in
tasks are imported only when a lookup needs them.
"""

from collections.abc import Callable
from collections.abc import Mapping
import importlib
from typing import Any

# Imported on a lookup, so that they register; they need TensorFlow.
_BUILTIN_MODULES = (
  'dnc.tasks.repeat_copy.task',
  'dnc.tasks.babi.task',
  'dnc.tasks.char_lm.task',
  'dnc.tasks.graphs.task',
)

# The config entries that name a run's task and the module that registers it.
NAME_KEY = 'task'
MODULE_KEY = 'task_module'

_registry: dict[str, type] = {}


class UnknownTaskError(LookupError):
  """A run's config names no registered task (one line, for the user)."""


def register(name: str) -> Callable[[type], type]:
  """A class decorator that registers a `dnc.tasks.base.Task` as `name`.

  Sets the class's `name`. Registering a class of the same module and
  qualified name again (a module imported twice) replaces it.

  Args:
    name: the task's name, recorded in its runs' configs.

  Returns:
    The decorator, which returns the class unchanged but for `name`.

  Raises:
    ValueError: `name` is empty or already names another task.
  """
  if not isinstance(name, str) or not name:
    raise ValueError(f'`name` must be a non-empty string, got {name!r}.')

  def decorate(cls: type) -> type:
    existing = _registry.get(name)
    if existing is not None and _qualified(existing) != _qualified(cls):
      raise ValueError(
        f'`name` {name!r} already names {_qualified(existing)}; choose '
        f'another for {_qualified(cls)}.'
      )
    cls.name = name
    _registry[name] = cls
    return cls

  return decorate


def _qualified(cls: type) -> str:
  return f'{cls.__module__}.{cls.__qualname__}'


def _import_builtins() -> None:
  for module in _BUILTIN_MODULES:
    importlib.import_module(module)


def get(name: str, module: str | None = None) -> type:
  """The task class registered as `name`.

  Args:
    name: a registered name.
    module: the module that registers it, imported first if given (a task
      defined outside `dnc`).

  Raises:
    UnknownTaskError: no task is registered as `name`, or `module` cannot
      be imported.
  """
  if module:
    try:
      importlib.import_module(module)
    except ImportError as e:
      raise UnknownTaskError(
        f'Task {name!r}: cannot import its module {module!r} ({e}).'
      ) from e
  if name not in _registry:
    _import_builtins()
  if name not in _registry:
    raise UnknownTaskError(
      f'No task is registered as {name!r}; registered: {names()}.'
    )
  return _registry[name]


def names() -> list[str]:
  """The registered names, sorted (the built-in tasks included)."""
  _import_builtins()
  return sorted(_registry)


def config_entries(task: Any) -> dict[str, str]:
  """What a run's config records of its task: its name and module.

  Args:
    task: a `dnc.tasks.base.Task` (an unregistered one records nothing).
  """
  name = getattr(task, 'name', None)
  if not name:
    return {}
  return {NAME_KEY: name, MODULE_KEY: type(task).__module__}


def of_config(config: Mapping[str, Any]) -> type:
  """The task class of a run's saved config.

  Args:
    config: a run's `config.json`. One written before configs named their
      task goes to the registered task that recognises it
      (`Task.recognises_legacy_config`).

  Raises:
    UnknownTaskError: the config names no registered task, or (an older
      one) no registered task, or more than one, recognises it.
  """
  if NAME_KEY in config:
    return get(config[NAME_KEY], config.get(MODULE_KEY))
  _import_builtins()
  found = [
    cls for cls in _registry.values() if cls.recognises_legacy_config(config)
  ]
  if len(found) != 1:
    raise UnknownTaskError(
      'The config names no task (written before configs named theirs), and '
      + (
        f'{len(found)} registered tasks recognise it'
        if found
        else f'none of the registered tasks ({names()}) recognises it'
      )
      + '.'
    )
  return found[0]
