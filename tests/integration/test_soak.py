"""The fault-injection soak test's quick mode (scripts/soak --quick): random faults with a
printed seed while rows, durable messages and NOTIFYs flow; nothing committed may be lost.
Once with each WAL output plugin, and once with two pgeps (active and standby) that the faults hit
at random (issue 16)."""
import os
import subprocess

import pytest

from conftest import ROOT, build_path


@pytest.mark.parametrize("plugin,pair", [("wal2json", False), ("pgoutput", False), ("wal2json", True)])
def test_the_quick_soak_loses_nothing(plugin, pair):
    result = subprocess.run([os.path.join(ROOT, "scripts", "soak"), "--quick", "--plugin", plugin,
                             "--build", os.path.dirname(build_path("pgep"))] + (["--pair"] if pair else []),
                            capture_output=True, text=True, timeout=900)
    print(result.stdout[-6000:], result.stderr[-3000:])
    assert result.returncode == 0, "the soak lost events or failed; its output is above (with its seed)"
    assert "nothing lost" in result.stdout
