"""CPU time of another process (the broker) from /proc/PID/stat, for µs-per-message costs.

/proc/PID/stat (proc(5)): `pid (comm) state ppid …`; after the closing parenthesis of
comm (which may itself hold spaces and parentheses) field 14 is utime and 15 is stime,
both in clock ticks (`SC_CLK_TCK`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["CpuMeter", "CpuUsage", "parse_proc_stat_ticks", "read_cpu_seconds"]


def parse_proc_stat_ticks(text: str) -> int:
    """utime + stime (ticks) from the text of /proc/PID/stat.

    Raises:
        ValueError: the text is not a stat line.
    """
    close = text.rfind(")")
    if close < 0:
        raise ValueError("not a /proc/PID/stat line: no ')' after comm")
    fields = text[close + 1 :].split()
    # fields[0] is field 3 (state), so utime (14) and stime (15) are fields[11], [12].
    if len(fields) < 13:
        raise ValueError("not a /proc/PID/stat line: too few fields")
    return int(fields[11]) + int(fields[12])


def read_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid`.

    Raises:
        OSError: no such process or no /proc (not Linux).
    """
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
        ticks = parse_proc_stat_ticks(fh.read())
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class CpuUsage:
    pid: int
    cpu_seconds: float
    messages: int

    @property
    def us_per_message(self) -> float | None:
        if self.messages <= 0:
            return None
        return self.cpu_seconds * 1e6 / self.messages

    def line(self) -> str:
        per = self.us_per_message
        per_text = f"{per:.1f}" if per is not None else "n/a"
        return (
            f"Broker CPU: pid {self.pid} used {self.cpu_seconds:.2f}s for {self.messages} "
            f"messages = {per_text} us/msg"
        )

    def to_json(self) -> dict[str, object]:
        per = self.us_per_message
        return {
            "pid": self.pid,
            "cpu_s": round(self.cpu_seconds, 3),
            "us_per_msg": round(per, 2) if per is not None else None,
        }


class CpuMeter:
    """Reads a process's CPU time at `start()` and again at `stop(messages)`."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._before = read_cpu_seconds(pid)  # fails early if the pid is wrong

    def start(self) -> None:
        self._before = read_cpu_seconds(self.pid)

    def stop(self, messages: int) -> CpuUsage:
        return CpuUsage(self.pid, read_cpu_seconds(self.pid) - self._before, messages)
