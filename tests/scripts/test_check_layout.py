"""The package's layout targets (scripts/check_layout.py): no import cycles, no import of a module that is not there,
no module over 500 lines but the model's, no function over 60 lines (the remote-code trio included)."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_layout.py"


def test_the_layout_targets_hold():
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "; 0 problem(s)" in result.stdout


def test_the_checker_finds_a_cycle_a_missing_module_and_a_long_function(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import x\n")
    (package / "b.py").write_text("from .a import y\nfrom .gone import z\n\n\ndef f():\n" + "    pass\n" * 61)
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--package", str(package)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "import cycle: pkg.a <-> pkg.b" in result.stdout
    assert "pkg.b imports pkg.gone, which does not exist" in result.stdout
    assert "pkg.b:5 f(): 62 lines (over 60)" in result.stdout
