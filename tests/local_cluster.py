"""Several `--distribute=multi_worker` processes on this host.

`LocalCluster` starts one worker process per entry of `TF_CONFIG` on
127.0.0.1, each optionally pinned to its own CPU cores: the tests and the
benchmark of multi-worker training use it, and so can anyone trying
`multi_worker` on one machine:

  cluster = LocalCluster(
    ['python', 'train.py', '--distribute=multi_worker', '--seed=0'],
    workers=2, log_dir='/tmp/logs')
  codes = cluster.wait(timeout=3600)

TensorFlow's gRPC server listens on every interface. On Linux as root the
workers therefore share a network namespace of their own whose only
interface is loopback (`unshare`, `nsenter`); elsewhere they use plain
localhost ports, reachable from the network for as long as they run.
"""

from collections.abc import Sequence
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time


def private_network_available() -> bool:
  """Whether workers can get a network namespace with loopback only."""
  return (
    sys.platform == 'linux'
    and os.geteuid() == 0
    and all(shutil.which(tool) for tool in ('unshare', 'nsenter', 'ip'))
  )


def _free_ports(count: int) -> list[int]:
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(('127.0.0.1', 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


class LocalCluster:
  """Worker processes of one command, each with its `TF_CONFIG`.

  Example:
    cluster = LocalCluster(['python', 'train.py', ...], 2, log_dir)
    codes = cluster.wait(timeout=600)
  """

  def __init__(
    self,
    command: Sequence[str],
    workers: int,
    log_dir: str,
    name: str = 'worker',
    cores: Sequence[Sequence[int]] | None = None,
    cwd: str | None = None,
    private_network: bool | None = None,
  ):
    """Starts the workers (worker 0 is the chief).

    Args:
      command: the program and its arguments, the same for every worker.
      workers: how many; 1 starts the command alone, without `TF_CONFIG`.
      log_dir: where each worker's output goes, `{name}{index}.log`.
      name: the logs' prefix.
      cores: for each worker, the CPU cores it may run on (None: any).
      cwd: the workers' working directory.
      private_network: put the workers in a network namespace of their own
        (None: when `private_network_available()`).
    """
    if workers < 1:
      raise ValueError(f'`workers` must be >= 1, got {workers}.')
    if cores is not None and len(cores) != workers:
      raise ValueError(
        f'`cores` must name the cores of each of the {workers} workers, got '
        f'{len(cores)} entries.'
      )
    if private_network is None:
      private_network = private_network_available()
    log_dir = pathlib.Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    self.logs = [log_dir / f'{name}{i}.log' for i in range(workers)]
    # In a namespace of its own every port is free.
    ports = (
      [20000 + i for i in range(workers)]
      if private_network
      else _free_ports(workers)
    )
    addresses = [f'127.0.0.1:{port}' for port in ports]
    ready = log_dir / f'{name}.ready'
    ready.unlink(missing_ok=True)
    self.processes: list[subprocess.Popen] = []
    namespace = None
    for index, log in enumerate(self.logs):
      environ = dict(os.environ)
      environ.pop('TF_CONFIG', None)
      if workers > 1:
        environ['TF_CONFIG'] = json.dumps(
          {
            'cluster': {'worker': addresses},
            'task': {'type': 'worker', 'index': index},
          }
        )
      launch = list(command)
      if workers > 1 and private_network:
        if namespace is None:
          launch = [
            'unshare',
            '--net',
            'sh',
            '-c',
            f'ip link set lo up && touch {ready} && exec "$0" "$@"',
            *launch,
          ]
        else:
          launch = ['nsenter', f'--net={namespace}', *launch]
      pin = None
      if cores is not None:
        pin = lambda chosen=tuple(cores[index]): os.sched_setaffinity(0, chosen)
      with open(log, 'w') as f:
        self.processes.append(
          subprocess.Popen(
            launch,
            env=environ,
            stdout=f,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            preexec_fn=pin,
          )
        )
      if workers > 1 and private_network and namespace is None:
        self.wait_for(ready.exists, 60, 'the network namespace')
        namespace = f'/proc/{self.processes[0].pid}/ns/net'

  def wait_for(self, condition, seconds: float, what: str) -> None:
    """Polls `condition()`; stops every worker and raises after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
      if time.monotonic() > deadline:
        self.stop()
        raise TimeoutError(f'Timed out after {seconds} s waiting for {what}.')
      time.sleep(0.2)

  def wait(self, timeout: float) -> list[int]:
    """The workers' exit codes; after `timeout` s, stops them and raises."""
    deadline = time.monotonic() + timeout
    try:
      return [
        p.wait(timeout=max(deadline - time.monotonic(), 1))
        for p in self.processes
      ]
    except subprocess.TimeoutExpired:
      self.stop()
      raise TimeoutError(
        f'The workers ran over {timeout} s; they were stopped.'
      ) from None

  def stop(self) -> None:
    """Kills the workers still running (by PID) and reaps them."""
    for process in self.processes:
      if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

  def output(self, index: int | None = None) -> str:
    """The log of worker `index`, or of every worker."""
    logs = self.logs if index is None else [self.logs[index]]
    return '\n'.join(log.read_text() for log in logs)
