"""Fault injection for tests/test_faults.py, outside the product code.

A subprocess started with this folder on ``PYTHONPATH`` and
``FREQREG_FAULT_AFTER_WRITES=N`` dies (``os._exit(137)``, as under kill -9)
in the middle of its N-th atomic write: after ``utils.runs`` has written and
fsynced the temporary file, before ``os.replace`` puts it over the target.
Python imports ``sitecustomize`` at start-up, so nothing in the project
knows about it.
"""

import os
import sys

_LIMIT = os.environ.get("FREQREG_FAULT_AFTER_WRITES")

if _LIMIT:
    _replace = os.replace
    _writes = 0

    def _replace_or_die(src, dst, *args, **kwargs):
        global _writes
        caller = sys._getframe(1).f_code
        if caller.co_name == "atomic_write" and caller.co_filename.endswith(
                os.path.join("utils", "runs.py")):
            _writes += 1
            if _writes >= int(_LIMIT):
                os._exit(137)
        return _replace(src, dst, *args, **kwargs)

    os.replace = _replace_or_die
