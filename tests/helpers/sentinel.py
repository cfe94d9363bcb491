"""Proof that nothing happened: no file read, written, moved or created, no port listened on.

``Sentinel`` watches directories with Linux inotify (through ``ctypes``: no dependency) and
snapshots their contents (inode, size, mtime, bytes), and lists the listening TCP sockets of
the machine (``/proc/net/tcp*``) and the sockets this process holds. Used as::

    with Sentinel(read=[outside], write=[outside, ckpt_dir]) as s:
        ...  # the hostile load
    s.assert_quiet()

``read`` directories may not even be opened; ``write`` directories may be read (a restore
reads its checkpoint) but nothing in them may change, appear, vanish or move.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import struct
from pathlib import Path

IN_ACCESS = 0x001
IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_OPEN = 0x020
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
READS = IN_ACCESS | IN_OPEN
CHANGES = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
)
_EVENT = struct.Struct("iIII")
_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp


def _libc():
    return ctypes.CDLL("libc.so.6", use_errno=True)


def listening_ports() -> set[tuple[str, str]]:
    """``(protocol, local address)`` of every listening TCP socket (all processes)."""
    out = set()
    for proto in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/net/{proto}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == _LISTEN:
                out.add((proto, fields[1]))
    return out


def own_sockets() -> int:
    """How many sockets this process has open."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            continue
    return count


def snapshot(directory: Path) -> dict[str, tuple[int, int, int, str]]:
    """``{relative path: (inode, size, mtime_ns, sha256)}`` of every file under it."""
    out = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and not path.is_symlink():
            info = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            out[str(path.relative_to(directory))] = (
                info.st_ino,
                info.st_size,
                info.st_mtime_ns,
                digest,
            )
    return out


class Sentinel:
    """Watches for reads of ``read`` dirs and changes in ``read`` and ``write`` dirs."""

    def __init__(self, *, read: list[Path] = (), write: list[Path] = ()) -> None:
        self.read = [Path(p) for p in read]
        self.write = [Path(p) for p in write]
        self.events: list[tuple[str, int, str]] = []
        self._fd = -1
        self._watches: dict[int, tuple[str, int]] = {}

    def __enter__(self) -> Sentinel:
        self._before = {str(d): snapshot(d) for d in self.read + self.write}
        self._ports = listening_ports()
        self._sockets = own_sockets()
        libc = _libc()
        self._fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        for directory, mask in [(d, READS | CHANGES) for d in self.read] + [
            (d, CHANGES) for d in self.write
        ]:
            wd = libc.inotify_add_watch(self._fd, str(directory).encode(), mask)
            if wd < 0:
                raise OSError(ctypes.get_errno(), f"inotify_add_watch {directory}")
            self._watches[wd] = (str(directory), mask)
        return self

    def __exit__(self, *exc: object) -> None:
        self._drain()
        os.close(self._fd)
        self._after = {str(d): snapshot(d) for d in self.read + self.write}
        self._ports_after = listening_ports()
        self._sockets_after = own_sockets()

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                return
            offset = 0
            while offset < len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                name = data[offset + 16 : offset + 16 + length].rstrip(b"\0").decode()
                offset += 16 + length
                directory, wanted = self._watches.get(wd, ("?", 0))
                if mask & wanted:
                    self.events.append((directory, mask, name))

    def assert_quiet(self) -> None:
        """Nothing read (in ``read`` dirs), written, moved or created, no new listener."""
        assert not self.events, f"file system activity: {self.events}"
        assert self._after == self._before, "files changed"
        new_ports = self._ports_after - self._ports
        assert not new_ports, f"new listening sockets: {new_ports}"
        assert self._sockets_after <= self._sockets, "this process opened sockets"
