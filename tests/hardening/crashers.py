"""Misbehaving children for the sandbox tests: ``python -m crashers MODE``.

segv: dereferences NULL; abort: calls abort(); allocate: tries to allocate 2 GiB;
hang: starts a grandchild and sleeps (the whole process group must be killed);
garbage: writes non-JSON to stdout and exits 0; sleep: sleeps (to outlive a killed parent).
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import time

from robustedge.service import sandbox


def main() -> int:
    mode = sys.argv[1]
    sandbox.die_with_parent()  # as the validator does
    sys.stdin.read()  # like the validator: wait for the input (limits are applied by then)
    if mode == "segv":
        ctypes.string_at(0)
    elif mode == "abort":
        os.abort()
    elif mode == "allocate":
        block = bytearray(2 << 30)
        sys.stdout.write(f"allocated {len(block)}\n")
    elif mode == "hang":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        sys.stdout.write(f"{child.pid}\n")
        sys.stdout.flush()
        time.sleep(120)
    elif mode == "sleep":
        time.sleep(120)
    elif mode == "garbage":
        sys.stdout.write("\x00\x01 not json\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
