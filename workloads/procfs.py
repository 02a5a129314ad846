"""Low-level reads of Linux ``/proc`` for the sampler: held fds, pread, parsers.

The sampler re-reads thousands of tiny ``/proc`` files ten times a second, and
opening a file costs several times more than reading it. So hot files stay
open and are re-read with ``os.pread`` at offset 0, which makes the kernel
regenerate the content. A held fd also fails (ESRCH) once its thread exits,
so a recycled tid can never be read through an old thread's fd.

Every ``OSError`` is translated here, at one boundary, into `ThreadGone`,
`ProcessGone` or `ProcUnreadable`, so callers handle races by meaning rather
than by errno. Parsers are pure functions over bytes, testable without /proc.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import NamedTuple

__all__ = [
    "CLK_TCK",
    "FD_RESERVE",
    "PAGE_SIZE",
    "FdPool",
    "OutOfFds",
    "PpidCache",
    "ProcError",
    "ProcUnreadable",
    "ProcessGone",
    "Stat",
    "ThreadGone",
    "close_fd",
    "find_tree",
    "last_pid",
    "list_ints",
    "open_fd",
    "parse_children",
    "parse_schedstat",
    "parse_stat",
    "parse_stat_name_state",
    "parse_statm_rss",
    "parse_status",
    "parse_status_switches",
    "pread",
    "raise_fd_limit",
    "read_children",
    "read_file",
    "read_held",
]

CLK_TCK: int = os.sysconf("SC_CLK_TCK")
PAGE_SIZE: int = os.sysconf("SC_PAGE_SIZE")

#: errnos that mean "the task is gone": ENOENT once its directory is removed,
#: ESRCH on a held fd after exit, EINVAL/ENOTDIR from some kernels mid-exit.
_GONE_ERRNOS = frozenset({errno.ENOENT, errno.ESRCH, errno.EINVAL, errno.ENOTDIR})
_FD_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE})
#: fds left for the rest of the observer (UI, pipes, recorder) when holding many.
FD_RESERVE = 256
_READ_SIZE = 4096  # one page: every file we read except a huge status fits


class ProcError(Exception):
    """Base of everything this module raises."""


class ThreadGone(ProcError):
    """The thread (or the file's task) exited or its directory vanished."""


class ProcessGone(ProcError):
    """The process is gone, or the /proc root does not hold it."""


class ProcUnreadable(ProcError):
    """The file exists but cannot be read or parsed (permissions, format)."""


class OutOfFds(ProcUnreadable):
    """The fd limit is reached; the caller should read by path instead."""


def _translate(err: OSError, where: str) -> ProcError:
    if err.errno in _GONE_ERRNOS:
        return ThreadGone(where)
    if err.errno in _FD_ERRNOS:
        return OutOfFds(where)
    return ProcUnreadable(f"{where}: {err.strerror}")


def open_fd(path: str) -> int:
    """Open `path` read-only for repeated `pread`s."""
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise _translate(err, path) from None


def pread(fd: int, size: int = _READ_SIZE) -> bytes:
    """Re-read a held /proc file from offset 0.

    An empty read counts as gone: the files read this way are never empty
    while their task lives (only ``children`` can be, see `read_children`),
    and fake trees truncate files to simulate an exit.
    """
    try:
        data = os.pread(fd, size, 0)
    except OSError as err:
        raise _translate(err, f"fd {fd}") from None
    if not data:
        raise ThreadGone(f"fd {fd}")
    return data


def read_file(path: str, size: int = _READ_SIZE) -> bytes:
    """Open, read and close: for files read rarely, or when fds run out."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise _translate(err, path) from None
    try:
        data = os.read(fd, size)
    except OSError as err:
        raise _translate(err, path) from None
    finally:
        os.close(fd)
    if not data:
        raise ThreadGone(path)
    return data


def read_held(fd: int, path: str, size: int = _READ_SIZE) -> bytes:
    """Read through the held `fd`, or by `path` when none is held (fd == -1)."""
    return pread(fd, size) if fd >= 0 else read_file(path, size)


def close_fd(fd: int) -> None:
    """Close a held fd; closing never fails the caller."""
    with contextlib.suppress(OSError):
        os.close(fd)


def list_ints(path: str) -> list[int]:
    """The numeric entries of a directory (pids or tids), sorted."""
    try:
        names = os.listdir(path)
    except OSError as err:
        raise _translate(err, path) from None
    return sorted(int(n) for n in names if n.isdigit())


class Stat(NamedTuple):
    """The fields of ``stat`` the sampler uses."""

    name: str
    state: str
    ppid: int
    utime: int  # clock ticks
    stime: int  # clock ticks
    num_threads: int
    start_time: int  # clock ticks after boot; with the tid, a thread's identity


def parse_stat(raw: bytes) -> Stat:
    """Parse ``stat``; the name is between the first ``(`` and the LAST ``)``.

    Names may contain spaces and parentheses, so splitting the whole line on
    spaces would shift every field after the name.
    """
    lpar = raw.find(b"(")
    rpar = raw.rfind(b")")
    if lpar < 0 or rpar < lpar:
        raise ProcUnreadable(f"malformed stat: {raw[:60]!r}")
    f = raw[rpar + 2 :].split()  # f[0] is field 3 (state)
    try:
        return Stat(
            raw[lpar + 1 : rpar].decode("utf-8", "replace"),
            f[0].decode("ascii", "replace"),
            int(f[1]),
            int(f[11]),
            int(f[12]),
            int(f[17]),
            int(f[19]),
        )
    except (IndexError, ValueError):
        raise ProcUnreadable(f"malformed stat: {raw[:60]!r}") from None


def parse_stat_name_state(raw: bytes) -> tuple[str, str]:
    """(name, state letter) from ``stat``: `parse_stat` without splitting the ~50 fields."""
    lpar = raw.find(b"(")
    rpar = raw.rfind(b")")
    state = raw[rpar + 2 : rpar + 3]
    if lpar < 0 or rpar < lpar or not state.strip():
        raise ProcUnreadable(f"malformed stat: {raw[:60]!r}")
    return raw[lpar + 1 : rpar].decode("utf-8", "replace"), state.decode("ascii", "replace")


def parse_schedstat(raw: bytes) -> tuple[int, int, int]:
    """``schedstat``: ns on CPU, ns runnable on a run queue, timeslices run."""
    try:
        cpu, runq, slices = raw.split()[:3]
        return int(cpu), int(runq), int(slices)
    except ValueError:
        raise ProcUnreadable(f"malformed schedstat: {raw[:60]!r}") from None


_VOL = b"\nvoluntary_ctxt_switches:"  # the newline keeps it from matching "non..."
_INVOL = b"\nnonvoluntary_ctxt_switches:"


def parse_status_switches(raw: bytes) -> tuple[int, int]:
    """``status``: cumulative (voluntary, involuntary) context switches.

    They are near its end (a status is ~1.4 kB, and this runs for every
    thread that ran, every second), so the voluntary line is searched for
    from the end, and the involuntary one expected right after it.
    """
    f = raw[raw.rfind(_VOL) + 1 :].split(None, 4)
    try:
        if len(f) >= 4 and f[0] == _VOL[1:] and f[2] == _INVOL[1:]:
            return int(f[1]), int(f[3])
        vol = raw.index(_VOL) + len(_VOL)  # elsewhere: search the whole text
        invol = raw.index(_INVOL) + len(_INVOL)
        return int(raw[vol : raw.index(b"\n", vol)]), int(raw[invol : raw.index(b"\n", invol)])
    except ValueError:
        raise ProcUnreadable("status has no ctxt_switches lines") from None


_NAME = b"Name:\t"
_STATE = b"\nState:\t"
_NAMES: dict[bytes, str] = {}  # thread names repeat: decode each once
_NAMES_MAX = 4096


def parse_status(raw: bytes) -> tuple[int, int, str | None, str | None]:
    """``status`` in one pass: (voluntary, involuntary, name, state letter).

    The sampler's refresh of a busy thread, once a second each: the switch
    counts as `parse_status_switches` gives them; the name and state letter
    as `parse_stat_name_state` would, or both None when they cannot be had
    exactly (status escapes a backslash or a newline in a name, which stat
    prints raw; no State line). Names are decoded once and shared.
    """
    vol, invol = parse_status_switches(raw)
    if not raw.startswith(_NAME):
        return vol, invol, None, None
    eol = raw.find(b"\n")
    name_b = raw[6:eol]
    name = _NAMES.get(name_b)
    if name is None:
        if b"\\" in name_b:
            return vol, invol, None, None
        if len(_NAMES) >= _NAMES_MAX:
            _NAMES.clear()
        name = _NAMES[name_b] = name_b.decode("utf-8", "replace")
    st = raw.find(_STATE, eol)
    state = raw[st + 8 : st + 9] if st >= 0 else b" "
    if not state or state.isspace():
        return vol, invol, None, None
    return vol, invol, name, state.decode("ascii", "replace")


def parse_statm_rss(raw: bytes) -> int:
    """``statm`` field 2: resident pages."""
    try:
        return int(raw.split()[1])
    except (IndexError, ValueError):
        raise ProcUnreadable(f"malformed statm: {raw[:60]!r}") from None


def parse_children(raw: bytes) -> list[int]:
    """``task/<tid>/children``: pids separated by spaces."""
    return [int(p) for p in raw.split()]


def read_children(proc_root: str, pid: int, tids: Iterable[int]) -> set[int]:
    """Child pids of a process: the union of its threads' ``children`` files.

    The kernel lists a child under the thread that forked it, so every thread
    must be read. Threads that vanish meanwhile are skipped.
    """
    found: set[int] = set()
    for tid in tids:
        try:
            data = read_file(f"{proc_root}/{pid}/task/{tid}/children")
        except ThreadGone:
            # An empty children file also lands here: no children.
            continue
        found.update(parse_children(data))
    return found


def last_pid(proc_root: str) -> int | None:
    """The pid the kernel handed out last (``loadavg``'s last field); None if unknown.

    Every new process or thread takes a new pid, so while this stays the
    same no process can have been born.
    """
    try:
        return int(read_file(f"{proc_root}/loadavg", 128).rsplit(None, 1)[-1])
    except (ProcError, ValueError, IndexError):
        return None


class PpidCache:
    """pid → ppid for every process in /proc, re-reading only new pids.

    The fallback when ``children`` files are missing (no CONFIG_PROC_CHILDREN)
    and the cheaper path for trees with many threads: one ``listdir`` of /proc
    plus one ``stat`` read per pid never seen before, instead of one read per
    thread.
    """

    def __init__(self, proc_root: str) -> None:
        self._root = proc_root
        self._ppid: dict[int, int] = {}

    def refresh(self) -> dict[int, int]:
        """Re-list /proc and return the current pid → ppid map."""
        pids = set(list_ints(self._root))
        for gone in self._ppid.keys() - pids:
            self.forget(gone)
        for pid in pids - self._ppid.keys():
            try:
                self._ppid[pid] = parse_stat(read_file(f"{self._root}/{pid}/stat")).ppid
            except ProcError:
                continue  # exited meanwhile, or unreadable: not ours to show
        return self._ppid

    def forget(self, pid: int) -> None:
        """Drop `pid`; its children may be reparented, so re-read them next time."""
        self._ppid.pop(pid, None)
        for orphan in [c for c, p in self._ppid.items() if p == pid]:
            del self._ppid[orphan]


def find_tree(
    proc_root: str,
    root: int,
    excluded: Collection[int],
    ppids: PpidCache,
    known_tids: Mapping[int, Sequence[int]] | None = None,
) -> set[int]:
    """`root` and its descendants, never entering an excluded pid's subtree.

    With `known_tids` (pid → its tids, possibly empty) it reads ``children``
    files; a pid missing there has its task directory listed. Without, it
    scans /proc through `ppids`. Processes exiting meanwhile are skipped.
    """
    tree, todo = {root}, [root]
    by_parent: dict[int, list[int]] = {}
    if known_tids is None:
        for pid, ppid in ppids.refresh().items():
            by_parent.setdefault(ppid, []).append(pid)
    while todo:
        pid = todo.pop()
        if known_tids is None:
            kids: Iterable[int] = by_parent.get(pid, ())
        else:
            try:
                tids = known_tids.get(pid) or list_ints(f"{proc_root}/{pid}/task")
            except ProcError:
                continue
            kids = read_children(proc_root, pid, tids)
        for kid in kids:
            if kid not in excluded and kid not in tree:
                tree.add(kid)
                todo.append(kid)
    return tree


class FdPool:
    """Held fds within RLIMIT_NOFILE, so thousands of threads never crash the observer.

    The soft limit is raised to the hard one and `FD_RESERVE` fds are left for
    everything else; past the budget `hold` answers -1 and the caller reads by
    path (open/read/close) instead.
    """

    def __init__(self) -> None:
        self.budget = max(0, raise_fd_limit() - FD_RESERVE)
        self.held = 0

    def hold(self, path: str, share: float = 1.0, *, force: bool = False) -> int:
        """An fd for `path`, or -1 past `share` of the budget (`force`: always open)."""
        if self.held >= self.budget * share and not force:
            return -1
        try:
            fd = open_fd(path)
        except OutOfFds:
            if force:
                raise
            self.budget = self.held  # the process holds more fds than we assumed
            return -1
        self.held += 1
        return fd

    def release(self, fd: int) -> None:
        if fd >= 0:
            close_fd(fd)
            self.held -= 1


def raise_fd_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit; return the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # An infinite limit is refused for NOFILE; fs.nr_open defaults to 2**20.
    target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return target if soft == resource.RLIM_INFINITY else soft
