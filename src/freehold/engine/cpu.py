"""CPU facts and the weight-repack decision (``--repack``).

llama.cpp may move weights into its "extra" CPU buffer types at load: the repacked
layouts (fast Q4_0/IQ4_NL kernels on AVX2/NEON) and, on Intel CPUs with AMX, the AMX
tiles. On some AMX hosts the AMX matmul dies with SIGSEGV at its first ``ldtilecfg``
(llama.cpp issue #20824), killing the whole server at the first request. So ``auto``
turns the extra buffer types off on AMX CPUs, unless a probe in a child process has shown
that the AMX path works on this CPU, kernel and llama.cpp (see ``amx_probe``), and keeps
them on elsewhere, where they are safe and can be faster.
"""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Repack = Literal["on", "off", "auto"]
AMX_ISSUE = "llama.cpp issue #20824"
# Flags worth naming in the start-up log: what decides llama.cpp's CPU kernels.
_RELEVANT = ("amx_tile", "amx_int8", "amx_bf16", "avx512f", "avx512_vnni", "avx2", "f16c", "fma")


@dataclass(frozen=True)
class CpuInfo:
    model: str
    flags: frozenset[str]

    @property
    def has_amx(self) -> bool:
        return "amx_tile" in self.flags

    def relevant_flags(self) -> list[str]:
        return [f for f in _RELEVANT if f in self.flags]


def parse_cpuinfo(text: str) -> CpuInfo:
    """The first processor's model name and flags from /proc/cpuinfo's text."""
    model = ""
    flags: frozenset[str] = frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = frozenset(value.split())
    return CpuInfo(model or platform.processor() or platform.machine(), flags)


def read_cpuinfo(path: Path = Path("/proc/cpuinfo")) -> CpuInfo:
    try:
        return parse_cpuinfo(path.read_text(errors="replace"))
    except OSError:  # not Linux: no AMX crash to avoid there
        return CpuInfo(platform.processor() or platform.machine(), frozenset())


@dataclass(frozen=True)
class RepackChoice:
    enabled: bool
    reason: str

    def describe(self) -> str:
        return f"repack {'on' if self.enabled else 'off'}: {self.reason}"


def decide_repack(setting: Repack, cpu: CpuInfo, amx_works: bool | None = None) -> RepackChoice:
    """Whether llama.cpp may use its extra CPU buffer types (repack, AMX).

    ``amx_works`` is the probe's verdict for this host (None: not probed)."""
    if setting == "on":
        return RepackChoice(True, "forced by --repack")
    if setting == "off":
        return RepackChoice(False, "forced by --no-repack")
    if not cpu.has_amx:
        return RepackChoice(True, "no AMX on this CPU; the repacked kernels are safe here")
    if amx_works:
        return RepackChoice(True, "AMX CPU, and a probe in a child process ran the AMX path fine")
    probed = " (the probe crashed)" if amx_works is False else ""
    return RepackChoice(False, f"AMX CPU ({AMX_ISSUE}){probed}; --repack forces it on")


def parse_repack(value: object) -> Repack:
    """``--repack`` values and their env/YAML spellings (true/false/1/0/yes/no)."""
    text = str(value).strip().lower()
    if text in ("on", "true", "1", "yes"):
        return "on"
    if text in ("off", "false", "0", "no"):
        return "off"
    if text == "auto":
        return "auto"
    raise ValueError(f"repack must be on, off or auto, not {value!r}")


def probe_key(cpu: CpuInfo, llama_version: str, threads: int) -> str:
    """What the AMX verdict depends on: the CPU, the kernel, llama.cpp, the thread count."""
    kernel = platform.release()
    name = re.sub(r"\s+", " ", cpu.model)
    return f"{name}|{kernel}|llama_cpp {llama_version}|threads {threads}"
