"""A seccomp deny-list for submitted code: the kernel interfaces a model never needs.

The filter is classic BPF over ``struct seccomp_data``, built here as bytes and installed
by the harness (after ``no_new_privs``) in the process that becomes the team's code, so it
holds for every process the code starts. It is a second wall behind the namespaces and the
unprivileged uid, not the first one: it refuses (``EPERM``) new namespaces of any kind
(``unshare``, ``setns``, namespace flags of ``clone``), mounting, ptrace and cross-process
memory access, kernel keyrings, BPF, perf events, userfaultfd, io_uring, module loading,
kexec, reboot, swap, clock setting and the other administrative calls; ``clone3`` answers
``ENOSYS`` (its flags cannot be inspected, and the C library then falls back to
``clone``). A process of another architecture or ABI (i386 or x32 calls on x86-64) is
refused or killed. Only x86-64 is described; elsewhere :func:`build_filter` returns None
and the run record says that no filter was installed.
"""

from __future__ import annotations

import errno
import platform
import struct

__all__ = ["FILTER_NAME", "DENIED_SYSCALLS", "build_filter"]

FILTER_NAME = "adjudicator-seccomp/v1 (x86-64 deny-list)"

# x86-64 system call numbers (arch/x86/entry/syscalls/syscall_64.tbl)
DENIED_SYSCALLS: dict[str, int] = {
    "ptrace": 101, "syslog": 103, "uselib": 134, "vhangup": 153, "pivot_root": 155,
    "adjtimex": 159, "chroot": 161, "acct": 163, "settimeofday": 164, "mount": 165,
    "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169, "sethostname": 170,
    "setdomainname": 171, "iopl": 172, "ioperm": 173, "create_module": 174,
    "init_module": 175, "delete_module": 176, "quotactl": 179, "nfsservctl": 180,
    "lookup_dcookie": 212, "clock_settime": 227, "kexec_load": 246, "add_key": 248,
    "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298,
    "fanotify_init": 300, "name_to_handle_at": 303, "open_by_handle_at": 304,
    "clock_adjtime": 305, "setns": 308, "process_vm_readv": 310, "process_vm_writev": 311,
    "kcmp": 312, "finit_module": 313, "kexec_file_load": 320, "bpf": 321,
    "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "pidfd_getfd": 438,
    "mount_setattr": 442,
}
_CLONE = 56
_CLONE3 = 435
# CLONE_NEWTIME | CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
# CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
_NAMESPACE_FLAGS = 0x00000080 | 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 \
    | 0x10000000 | 0x20000000 | 0x40000000

_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_BIT = 0x40000000

# classic BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06

_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000

# offsets in struct seccomp_data: int nr; __u32 arch; __u64 ip; __u64 args[6]
_NR, _ARCH, _ARG0_LOW = 0, 4, 16


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> tuple[int, int, int, int]:
    return (code, jt, jf, k)


def build_filter(machine: str | None = None) -> bytes | None:
    """The filter program as ``struct sock_filter`` bytes, or None off x86-64."""
    if (machine or platform.machine()) not in ("x86_64", "amd64", "AMD64"):
        return None
    denied = sorted(set(DENIED_SYSCALLS.values()))
    prog: list[tuple[int, int, int, int]] = []
    # labels are resolved once the program is laid out: the tail is
    #   ALLOW, clone-check (2 insns), ALLOW, DENY, ENOSYS
    n_checks = 2 + len(denied)  # clone, clone3, then the deny list
    head = 4  # load arch, check arch, kill, load nr
    start = head + 1 + n_checks  # index of the first tail instruction (ALLOW)
    allow, clone_check, allow2, deny, enosys = (start, start + 1, start + 3, start + 4,
                                                start + 5)

    def jump(frm: int, to: int) -> int:
        offset = to - frm - 1
        if not 0 <= offset <= 255:
            raise AssertionError("BPF jump out of range")
        return offset

    prog.append(_insn(_LD_W_ABS, _ARCH))
    prog.append(_insn(_JEQ_K, _AUDIT_ARCH_X86_64, 1, 0))
    prog.append(_insn(_RET_K, _RET_KILL_PROCESS))
    prog.append(_insn(_LD_W_ABS, _NR))
    i = len(prog)
    prog.append(_insn(_JGE_K, _X32_BIT, jump(i, deny), 0))  # the x32 ABI
    i = len(prog)
    prog.append(_insn(_JEQ_K, _CLONE, jump(i, clone_check), 0))
    i = len(prog)
    prog.append(_insn(_JEQ_K, _CLONE3, jump(i, enosys), 0))
    for nr in denied:
        i = len(prog)
        prog.append(_insn(_JEQ_K, nr, jump(i, deny), 0))
    assert len(prog) == allow
    prog.append(_insn(_RET_K, _RET_ALLOW))
    assert len(prog) == clone_check
    prog.append(_insn(_LD_W_ABS, _ARG0_LOW))  # clone's flags (low 32 bits, little endian)
    i = len(prog)
    prog.append(_insn(_JSET_K, _NAMESPACE_FLAGS, jump(i, deny), 0))
    assert len(prog) == allow2
    prog.append(_insn(_RET_K, _RET_ALLOW))
    assert len(prog) == deny
    prog.append(_insn(_RET_K, _RET_ERRNO | errno.EPERM))
    assert len(prog) == enosys
    prog.append(_insn(_RET_K, _RET_ERRNO | errno.ENOSYS))
    return b"".join(struct.pack("<HBBI", *ins) for ins in prog)
