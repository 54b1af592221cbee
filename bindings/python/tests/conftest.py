"""Makes the generated `conclave` module importable.

`scripts/test-bindings.sh` puts the generated `conclave.py` next to `libconclave_ffi.so` in a
directory and passes it as CONCLAVE_PY_DIR. Without it, the installed package
(`pip install ./bindings/python`) is used.
"""

import os
import sys

_dir = os.environ.get("CONCLAVE_PY_DIR")
if _dir:
    sys.path.insert(0, _dir)
sys.path.insert(0, os.path.dirname(__file__))
