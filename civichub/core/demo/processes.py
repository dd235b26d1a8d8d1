"""Running the demo on this machine: the web server and the task worker as child processes of
one supervising process, stopped together and in order, and the probes that tell whether an
address is free and the server answers."""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

STOP_TIMEOUT_SECONDS = 20


class Supervisor:
    """Runs the demo's child processes, each in its own process group so that Ctrl-C reaches
    this process only and the children are stopped in order; on Linux the children also die if
    this process is killed outright, so none is left behind."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.stop_requested = False

    @contextlib.contextmanager
    def handling_signals(self) -> Any:
        signals = [signal.SIGINT, signal.SIGTERM]
        if hasattr(signal, "SIGHUP"):
            signals.append(signal.SIGHUP)
        previous = {s: signal.getsignal(s) for s in signals}

        def request_stop(signum: int, frame: FrameType | None) -> None:
            self.stop_requested = True

        for s in signals:
            signal.signal(s, request_stop)
        try:
            yield self
        finally:
            self.stop()
            for s, handler in previous.items():
                signal.signal(s, handler)

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        # The commands are civichub's own (`civichub_command`), never input from outside.
        child = subprocess.Popen(  # noqa: S603
            command, env=env, start_new_session=True, preexec_fn=_die_with_parent
        )
        self.children.append((name, child))
        return child

    def exited(self) -> str | None:
        """The name of a child that has exited, if any."""
        for name, child in self.children:
            if child.poll() is not None:
                return name
        return None

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stop_requested or self.exited():
                return False
            if ready():
                return True
            time.sleep(0.25)
        return False

    def supervise(self) -> str | None:
        """Wait for a stop request (returns None) or a child's exit (returns its name)."""
        while not self.stop_requested:
            gone = self.exited()
            if gone:
                return gone
            time.sleep(0.2)
        return None

    def stop(self) -> str:
        """Stop every child (SIGTERM to its group, SIGKILL after a timeout); returns the names
        of children that had already exited, for error messages."""
        already = ", ".join(f"{n} exited" for n, c in self.children if c.poll() is not None)
        for _, child in self.children:
            if child.poll() is None:
                _signal_group(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for _, child in self.children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(child.pid, signal.SIGKILL)
                child.wait()
            # Anything the child left in its group (a server's worker processes) goes too.
            _signal_group(child.pid, signal.SIGKILL)
        self.children = []
        return already


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to send SIGTERM when the demo process dies."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def civichub_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "civichub.cli", *arguments]


def _connect_host(host: str) -> str:
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104  # nosec B104


def browser_host(host: str) -> str:
    connect = _connect_host(host)
    return f"[{connect}]" if ":" in connect else connect


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As the server will: a port left in TIME_WAIT by a stopped server counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def answers(host: str, port: int) -> bool:
    client = http.client.HTTPConnection(_connect_host(host), port, timeout=2)
    try:
        client.request("GET", "/healthz")
        return client.getresponse().status == 200
    except OSError:
        return False
    finally:
        client.close()
