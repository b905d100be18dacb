"""Who already answers on a port ``make run`` is about to give a service.

nameko listens with SO_REUSEPORT, so a second ``make run`` beside a first
one's leftovers would bind the same ports without an error and share the
requests (two intakes on one SQLite file). The supervisor asks here first
and names the process in the way: from ``/proc/net/tcp`` and each process's
``/proc/<pid>/fd``, else from ``ss -ltnp``, else only the port.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from pathlib import Path

LISTEN = "0A"  # the socket state /proc/net/tcp gives a listening socket


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts a TCP connection on ``host:port``."""
    if host in ("", "0.0.0.0", "::", "[::]"):  # noqa: S104 - read, not bound
        host = "127.0.0.1"  # every interface: loopback among them
    try:
        with socket.create_connection((host.strip("[]"), port), timeout=timeout):
            return True
    except OSError:
        return False


def holders(port: int, proc: Path = Path("/proc")) -> list[tuple[int, str]]:
    """The processes listening on TCP ``port``: (pid, command line), [] when
    this user cannot see them (``proc`` is a seam for tests)."""
    inodes = _listening_inodes(port, proc)
    found: dict[int, str] = {}
    if inodes:
        for fd_dir in proc.glob("[0-9]*/fd"):
            try:
                links = {str(fd.readlink()) for fd in fd_dir.iterdir()}
            except OSError:  # gone, or another user's
                continue
            if any(f"socket:[{inode}]" in links for inode in inodes):
                pid = int(fd_dir.parent.name)
                found[pid] = _command_line(pid, proc)
    if not found:
        for pid in _ss_pids(port):
            found[pid] = _command_line(pid, proc)
    return sorted(found.items())


def describe(port: int, proc: Path = Path("/proc")) -> str:
    """``pid 123 (nameko run … labornet_intake.service)``, several joined by
    "and"; "a process this user cannot see" when none can be seen."""
    held = holders(port, proc)
    if not held:
        return "a process this user cannot see"
    return " and ".join(
        f"pid {pid} ({command})" if command else f"pid {pid}" for pid, command in held
    )


def _listening_inodes(port: int, proc: Path) -> set[str]:
    inodes = set()
    for table in ("net/tcp", "net/tcp6"):
        try:
            lines = (proc / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != LISTEN:
                continue
            if int(fields[1].rpartition(":")[2], 16) == port:
                inodes.add(fields[9])
    return inodes - {"0"}


def _ss_pids(port: int) -> list[int]:
    """The pids ``ss -ltnp`` names for ``port`` (it may see what /proc's
    fds do not show this user); [] without ss."""
    ss = shutil.which("ss")
    if ss is None:
        return []
    try:
        out = subprocess.run(  # noqa: S603 - iproute2's ss, fixed arguments
            [ss, "-Hltnp", f"sport = :{port}"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return sorted({int(pid) for pid in re.findall(r"pid=(\d+)", out)})


def _command_line(pid: int, proc: Path) -> str:
    """The command line of ``pid``, short: the interpreter of a script left
    out, the program without its directory, at most 160 characters."""
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    argv = [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    if len(argv) > 1 and Path(argv[0]).name.startswith("python"):
        argv = argv[1:]
    if not argv:
        return ""
    argv[0] = Path(argv[0]).name
    # one line, whatever the arguments hold (a `python -c` script)
    command = " ".join(" ".join(argv).split())
    return command if len(command) <= 160 else command[:159] + "…"
