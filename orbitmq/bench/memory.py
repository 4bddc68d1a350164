"""Resident memory of a process from /proc/PID/status (proc(5)), split as the kernel does:
RssAnon (heap, stacks: what the process itself holds), RssFile (pages of mapped files,
e.g. the commit log's mmap, which the kernel can drop at will) and RssShmem."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MemoryUsage", "parse_status_memory", "read_memory"]

_FIELDS = ("VmRSS", "RssAnon", "RssFile", "RssShmem")


@dataclass(frozen=True, slots=True)
class MemoryUsage:
    """Sizes in KiB."""

    rss_kib: int
    anon_kib: int
    file_kib: int
    shmem_kib: int

    def to_json(self) -> dict[str, float]:
        return {
            "rss_mib": round(self.rss_kib / 1024, 1),
            "anon_mib": round(self.anon_kib / 1024, 1),
            "file_mib": round(self.file_kib / 1024, 1),
            "shmem_mib": round(self.shmem_kib / 1024, 1),
        }


def parse_status_memory(text: str) -> MemoryUsage:
    """The RSS lines of a /proc/PID/status text ("VmRSS:    123 kB").

    Raises:
        ValueError: a field is missing.
    """
    values: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in _FIELDS:
            values[name] = int(rest.split()[0])
    missing = [name for name in _FIELDS if name not in values]
    if missing:
        raise ValueError(f"/proc status text lacks {', '.join(missing)}")
    return MemoryUsage(*(values[name] for name in _FIELDS))


def read_memory(pid: int) -> MemoryUsage:
    """Raises OSError if there is no such process (or no /proc)."""
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
        return parse_status_memory(fh.read())
