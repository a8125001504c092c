"""Hostile: tries to build its own namespaces (the usual first step of a kernel escape)."""

import ctypes
import errno


def predict(inputs, output):
    libc = ctypes.CDLL(None, use_errno=True)
    results = {}
    for name, flag in (("user", 0x10000000), ("mount", 0x00020000), ("net", 0x40000000)):
        rc = libc.unshare(ctypes.c_int(flag))
        results[name] = "created" if rc == 0 else errno.errorcode[ctypes.get_errno()]
    rc = libc.syscall(ctypes.c_long(435), None, ctypes.c_size_t(0))  # clone3
    results["clone3"] = errno.errorcode[ctypes.get_errno()] if rc != 0 else "created"
    rc = libc.syscall(ctypes.c_long(101), ctypes.c_long(16), ctypes.c_long(1), None, None)
    results["ptrace"] = errno.errorcode[ctypes.get_errno()] if rc != 0 else "attached"
    print(results)
    raise PermissionError(f"namespaces refused: {results}")
