"""The README's Python example, run verbatim (extracted from README.md)."""

import os
import re
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..")


def readme_python_example() -> str:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text[text.index("## Use from Python") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_runs_verbatim():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    out = subprocess.run(
        [sys.executable, "-c", readme_python_example()],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "compare out of band:" in out.stdout
    assert "rejected: frame from sender" in out.stdout, out.stdout
    assert "DecryptedFrame(sender=" in out.stdout
    assert "refused" not in out.stdout, out.stdout  # no message of the example is refused
