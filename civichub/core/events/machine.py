"""Without Redis: the processes of one machine that share the database reach each other through
Unix datagram sockets."""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import logging
import os
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from django.conf import settings

from civichub.core.events.bus import Event, LocalBus, Subscription
from civichub.core.events.redis_bus import redis_prefix

logger = logging.getLogger(__name__)

# A directory changed this recently may change again within the file system's timestamp
# granularity without its mtime moving: until then the listing is not trusted.
_MTIME_TRUSTED_AFTER = 1.0


class MachineBus(LocalBus):
    """The web server's workers and the task worker of an embedded install reach each other
    through Unix datagram sockets, one per process that holds streams, in a directory named
    after the database. Each event goes to every socket there, its own process's included; a
    socket left by a process that died is removed by the first publisher that finds it refusing.

    The sockets are listed again only when the directory changed (its mtime moved, or changed
    too recently to tell) or a send failed, not on every publication: one `stat` per event."""

    name = "machine"

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory
        self._lock = threading.Lock()
        self._sender: socket.socket | None = None
        self._receiver_pid = 0
        self._peers: list[str] = []
        self._peers_mtime_ns = -1
        self._peers_listed_at = 0.0

    def _list_peers(self) -> list[str]:
        with os.scandir(self.directory) as entries:
            return [entry.path for entry in entries if entry.name.endswith(".sock")]

    def _current_peers(self) -> list[str] | None:
        """The sockets to send to (None: nobody has ever listened). Called under the lock."""
        try:
            mtime_ns = os.stat(self.directory).st_mtime_ns
        except FileNotFoundError:
            return None
        settled = mtime_ns / 1e9 < self._peers_listed_at - _MTIME_TRUSTED_AFTER
        if mtime_ns != self._peers_mtime_ns or not settled:
            listed_at = time.time()
            try:
                self._peers = self._list_peers()
            except FileNotFoundError:
                return None
            self._peers_mtime_ns, self._peers_listed_at = mtime_ns, listed_at
        return self._peers

    def publish(self, channels: Sequence[str], event: Event) -> None:
        message = json.dumps({"channels": list(channels), "event": event.encode()}).encode()
        with self._lock:
            if self._sender is None:
                self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sender = self._sender
            peers = self._current_peers()
            if peers is None:
                return
            gone = []
            for path in peers:
                try:
                    sender.sendto(message, socket.MSG_DONTWAIT, path)
                except (ConnectionRefusedError, FileNotFoundError):
                    gone.append(path)
                except BlockingIOError:
                    logger.warning("a stream process is not keeping up; an event was dropped")
            if gone:
                for path in gone:
                    Path(path).unlink(missing_ok=True)  # its process has gone
                self._peers_mtime_ns = -1  # list again next time

    def _listen(self) -> None:
        """Starts this process's receiver once (again in a forked child)."""
        with self._lock:
            if self._receiver_pid == os.getpid():
                return
            self._receiver_pid = os.getpid()
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            path = self.directory / f"{os.getpid()}.sock"
            path.unlink(missing_ok=True)
            receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            receiver.bind(str(path))
            atexit.register(path.unlink, missing_ok=True)
            self._peers_mtime_ns = -1
        threading.Thread(
            target=self._receive, args=(receiver,), name="civichub-streams", daemon=True
        ).start()

    def _receive(self, receiver: socket.socket) -> None:
        while True:
            raw = receiver.recv(65536)
            try:
                message = json.loads(raw)
                event = Event.decode(message["event"])
                channels = [str(c) for c in message["channels"]]
            except (ValueError, KeyError, TypeError):
                logger.warning("ignoring a malformed stream event")
                continue
            self.fanout.deliver(channels, event)

    @asynccontextmanager
    async def subscribe(self, channels: Iterable[str]) -> AsyncIterator[Subscription]:
        self._listen()
        async with super().subscribe(channels) as subscription:
            yield subscription


def machine_directory() -> Path:
    """Short (a socket's path is limited to about 100 bytes) and the same for every process of
    this installation and database."""
    return _machine_directory(str(settings.DATA_DIR), redis_prefix())


@functools.lru_cache(maxsize=8)
def _machine_directory(data_dir: str, prefix: str) -> Path:
    # Hashed once per installation and database, not on every publication.
    key = f"{data_dir}|{prefix}".encode()
    return Path(tempfile.gettempdir()) / f"civichub-streams-{hashlib.sha256(key).hexdigest()[:16]}"
