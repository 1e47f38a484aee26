"""The companion server's garbage-collector settings, checked in a fresh interpreter."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_PROBE = """
import gc, json
from core.gc_tuning import tune_for_serving
before = gc.get_threshold()
tune_for_serving()
frozen = gc.get_freeze_count()
allocated = [[] for _ in range(500)]  # a second freeze would take these too
tune_for_serving()
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": frozen,
                  "frozen_again": gc.get_freeze_count()}))
"""


def test_tune_for_serving_once():
    output = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True,
                            text=True, check=True, timeout=60).stdout
    result = json.loads(output)

    assert result["before"] == [700, 10, 10]
    assert result["after"] == [50_000, 50, 100]
    assert result["frozen"] > 1000
    assert result["frozen_again"] == result["frozen"]
