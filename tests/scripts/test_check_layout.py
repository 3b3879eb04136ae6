"""The package's layout targets (scripts/check_layout.py): no import cycles, no import of a module that is not there,
no module over 500 lines but the model's, no function over 60 lines (the remote-code trio included, and scripts/)."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_layout.py"


def test_the_layout_targets_hold_and_the_import_picture_is_current(tmp_path):
    graph = tmp_path / "imports.mmd"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--graph", str(graph)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "; 0 problem(s)" in result.stdout
    checked_in = SCRIPT.parent.parent / "docs" / "imports.mmd"
    assert graph.read_text() == checked_in.read_text(), (
        "docs/imports.mmd is stale: python scripts/check_layout.py --graph docs/imports.mmd"
    )


def test_the_checker_finds_a_cycle_a_missing_module_and_a_long_function(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import x\n")
    (package / "b.py").write_text("from .a import y\nfrom .gone import z\n\n\ndef f():\n" + "    pass\n" * 61)
    (tmp_path / "scripts").mkdir()  # the scripts beside the package keep the function rule too
    (tmp_path / "scripts" / "bench.py").write_text("import sys\n\n\ndef main():\n" + "    pass\n" * 60)
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--package", str(package)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "import cycle: pkg.a <-> pkg.b" in result.stdout
    assert "pkg.b imports pkg.gone, which does not exist" in result.stdout
    assert "pkg.b:5 f(): 62 lines (over 60)" in result.stdout
    assert "scripts/bench.py:4 main(): 61 lines (over 60)" in result.stdout
