"""Runs the repository's scripts as a user does, without importing TensorFlow
each time.

Most end-to-end tests run `train.py`, `train_babi.py` or a `python -m dnc...`
tool, and a new interpreter spends about 6 CPU-seconds importing TensorFlow
before the script starts: over the suite's script runs, a quarter of its
time. So each test process starts one helper, the *zygote*, which imports
TensorFlow, Sonnet and `dnc` (without running anything: it stays single-
threaded) and then forks a fresh process for each script run, with the
run's argv, working directory and environment, its stdin from /dev/null and
its stdout and stderr to a pipe the test reads. The script then runs as its
`__main__`, in a process of its own that the test can signal and kill by
PID, and exits with its own exit code. The zygote listens on a Unix socket
in a private temporary directory and ends when its test process does.

`start` and `run` take the argv after the interpreter (`['train.py',
...]`, `['-m', 'dnc.tools.export', ...]` or `['-c', code, ...]`); `start`
returns a `Process` with `subprocess.Popen`'s `pid`, `stdout`,
`returncode`, `poll`, `wait`, `communicate`, `send_signal` and `kill`.
Tests of the interpreter itself (`python -I`, an installed wheel) keep
using `subprocess`. Set `DNC_TEST_FORK=0` to run every script in a new
interpreter instead.
"""

import atexit
import json
import os
import runpy
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import traceback
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_FORK = os.environ.get('DNC_TEST_FORK', '1') != '0' and hasattr(os, 'fork')
_lock = threading.Lock()
_zygote: dict[str, Any] = {}


def environment(**overrides: str) -> dict[str, str]:
  """The tests' environment, with the repository on `PYTHONPATH`."""
  env = dict(os.environ, **overrides)
  env['PYTHONPATH'] = os.pathsep.join(
    p for p in (ROOT, env.get('PYTHONPATH')) if p
  )
  env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  return env


# The test process's side.


def _send(sock: socket.socket, message: dict, fds: tuple[int, ...] = ()):
  data = json.dumps(message).encode()
  header = struct.pack('!I', len(data))
  if fds:
    socket.send_fds(sock, [header + data], list(fds))
  else:
    sock.sendall(header + data)


def _receive(sock: socket.socket, with_fds: bool = False):
  """One message (and the file descriptors sent with it); None at EOF."""
  if with_fds:
    data, fds, _, _ = socket.recv_fds(sock, 1 << 16, 4)
  else:
    data, fds = sock.recv(4), []
  if not data:
    return None
  while len(data) < 4:
    data += sock.recv(4 - len(data))
  (size,) = struct.unpack('!I', data[:4])
  data = data[4:]
  while len(data) < size:
    chunk = sock.recv(size - len(data))
    if not chunk:
      return None
    data += chunk
  message = json.loads(data)
  return (message, fds) if with_fds else message


def _address() -> str:
  """The zygote's socket, started on first use."""
  with _lock:
    if _zygote.get('process') and _zygote['process'].poll() is None:
      return _zygote['address']
    directory = tempfile.mkdtemp(prefix='dnc-zygote-')
    address = os.path.join(directory, 'socket')
    process = subprocess.Popen(
      [sys.executable, os.path.abspath(__file__), '--serve', address],
      stdin=subprocess.PIPE,  # Its end of file: this process has ended.
      stdout=subprocess.PIPE,
      env=environment(),
      cwd=ROOT,
    )
    ready = process.stdout.readline()
    if ready.strip() != b'ready':
      process.kill()
      raise RuntimeError(f'The test zygote did not start: {ready!r}')
    _zygote.update(process=process, address=address, directory=directory)
    atexit.register(_stop_zygote, process, directory)
    return address


def _stop_zygote(process: subprocess.Popen, directory: str) -> None:
  process.stdin.close()  # It waits for its runs, then ends.
  try:
    process.wait(timeout=60)
  except subprocess.TimeoutExpired:
    process.kill()
    process.wait()
  try:
    os.remove(os.path.join(directory, 'socket'))
    os.rmdir(directory)
  except OSError:
    pass


class Process:
  """A script run forked by the zygote; `subprocess.Popen`'s interface."""

  def __init__(self, argv, env, cwd):
    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    self._sock.connect(_address())
    read_fd, write_fd = os.pipe()
    try:
      _send(
        self._sock,
        {'argv': list(argv), 'env': env, 'cwd': cwd},
        (write_fd,),
      )
    finally:
      os.close(write_fd)
    self.stdout = os.fdopen(read_fd, 'r', errors='replace')
    self.pid = _receive(self._sock)['pid']
    self.returncode = None

  def poll(self) -> int | None:
    if self.returncode is None:
      ready, _, _ = select.select([self._sock], [], [], 0)
      if ready:
        self._read_status()
    return self.returncode

  def _read_status(self) -> None:
    message = _receive(self._sock)
    self.returncode = message['returncode'] if message else -signal.SIGKILL
    self._sock.close()

  def wait(self, timeout: float | None = None) -> int:
    if self.returncode is None:
      ready, _, _ = select.select([self._sock], [], [], timeout)
      if not ready:
        raise subprocess.TimeoutExpired(self.pid, timeout)
      self._read_status()
    return self.returncode

  def communicate(self, timeout: float | None = None) -> tuple[str, None]:
    """Everything the script printed (stdout and stderr) until it ended."""
    result = {}

    def read():
      result['output'] = self.stdout.read()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
      raise subprocess.TimeoutExpired(self.pid, timeout)
    self.stdout.close()
    self.wait(timeout)
    return result['output'], None

  def send_signal(self, signum: int) -> None:
    if self.returncode is None:
      os.kill(self.pid, signum)

  def kill(self) -> None:
    self.send_signal(signal.SIGKILL)


def start(
  argv, env: dict[str, str] | None = None, cwd: str | None = None
) -> Process | subprocess.Popen:
  """Starts `python *argv` (output in `.stdout`, stderr merged into it)."""
  env = environment() if env is None else env
  cwd = cwd or os.getcwd()
  if not _FORK:
    return subprocess.Popen(
      [sys.executable, *argv],
      stdin=subprocess.DEVNULL,
      stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT,
      text=True,
      env=env,
      cwd=cwd,
    )
  return Process(argv, env, cwd)


def run(
  argv,
  env: dict[str, str] | None = None,
  cwd: str | None = None,
  timeout: float = 600,
) -> tuple[int, str]:
  """Runs `python *argv` to its end; returns (exit code, its output).

  Raises:
    subprocess.TimeoutExpired: after killing it, if it ran over `timeout`.
  """
  process = start(argv, env, cwd)
  try:
    output, _ = process.communicate(timeout=timeout)
  except subprocess.TimeoutExpired:
    process.kill()
    process.wait()
    raise
  return process.returncode, output


# The zygote's side.


def _set_path(first: str, python_path: str) -> None:
  """`sys.path` as a new interpreter with `PYTHONPATH=python_path` has it."""
  extra = [p for p in python_path.split(os.pathsep) if p]
  sys.path[:] = [first, *extra, *(p for p in _BASE_PATH if p not in extra)]


def _run_script(argv: list[str], python_path: str) -> int:
  """Runs `python *argv`'s program as `__main__`; returns its exit code."""
  try:
    if argv[0] == '-c':
      sys.argv = ['-c', *argv[2:]]
      _set_path('', python_path)
      exec(compile(argv[1], '<string>', 'exec'), {'__name__': '__main__'})
    elif argv[0] == '-m':
      sys.argv = [argv[1], *argv[2:]]
      _set_path(os.getcwd(), python_path)
      runpy.run_module(argv[1], run_name='__main__', alter_sys=True)
    else:
      script = os.path.abspath(argv[0])
      sys.argv = list(argv)
      _set_path(os.path.dirname(script), python_path)
      runpy.run_path(script, run_name='__main__')
    return 0
  except SystemExit as e:
    if e.code is None or isinstance(e.code, int):
      return e.code or 0
    print(e.code, file=sys.stderr)
    return 1
  except BaseException:  # noqa: BLE001  (reported as Python would)
    traceback.print_exc()
    return 1


def _child(request: dict, output_fd: int) -> None:
  """The script's process: never returns."""
  code = 1
  try:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.close(output_fd)
    os.close(devnull)
    for handled in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
      signal.signal(
        handled,
        signal.default_int_handler
        if handled == signal.SIGINT
        else signal.SIG_DFL,
      )
    os.environ.clear()
    os.environ.update(request['env'])
    os.chdir(request['cwd'])
    code = _run_script(request['argv'], request['env'].get('PYTHONPATH', ''))
    import atexit as child_atexit  # The script's exit handlers.

    child_atexit._run_exitfuncs()
  finally:
    for stream in (sys.stdout, sys.stderr):
      try:
        stream.flush()
      except Exception:  # noqa: BLE001
        pass
    os._exit(code if 0 <= code < 256 else 1)


def _monitor(connection: socket.socket) -> None:
  """Forks the script, reports its PID and then its exit code."""
  request, fds = _receive(connection, with_fds=True)
  (output_fd,) = fds
  pid = os.fork()
  if pid == 0:
    connection.close()
    _child(request, output_fd)
  os.close(output_fd)
  _send(connection, {'pid': pid})
  _, status = os.waitpid(pid, 0)
  _send(connection, {'returncode': os.waitstatus_to_exitcode(status)})
  connection.close()


# The interpreter's own entries of `sys.path` (the standard library and
# site-packages), without the zygote's directory and `PYTHONPATH`.
_BASE_PATH = [
  p
  for p in sys.path[1:]
  if p not in os.environ.get('PYTHONPATH', '').split(os.pathsep)
]


def _serve(address: str) -> None:
  # What every script imports first; nothing here starts a thread.
  import numpy  # noqa: F401
  import sonnet  # noqa: F401
  import tensorflow  # noqa: F401

  import dnc  # noqa: F401
  from dnc.train import loop  # noqa: F401

  listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
  listener.bind(address)
  listener.listen(16)
  sys.stdout.write('ready\n')
  sys.stdout.flush()
  monitors = set()
  while True:
    ready, _, _ = select.select([listener, sys.stdin], [], [], 1.0)
    # Reaped here (not ignored), so that the scripts' CPU time adds up in
    # the test process's, as a subprocess's would (`time pytest`).
    for pid in list(monitors):
      if os.waitpid(pid, os.WNOHANG)[0]:
        monitors.discard(pid)
    if sys.stdin in ready and not os.read(sys.stdin.fileno(), 1):
      for pid in monitors:  # The test process is done: so are its runs.
        os.waitpid(pid, 0)
      return
    if listener in ready:
      connection, _ = listener.accept()
      pid = os.fork()
      if pid == 0:
        listener.close()
        try:
          _monitor(connection)
        finally:
          os._exit(0)
      monitors.add(pid)
      connection.close()


if __name__ == '__main__' and sys.argv[1:2] == ['--serve']:
  _serve(sys.argv[2])
