"""Training reaches its per-epoch metrics without scikit-learn, whose import alone is about 80 MB of memory."""

import subprocess
import sys


def test_training_and_decision_fit_modules_do_not_import_sklearn():
    code = (
        "import sys\n"
        "import tailtag.cli, tailtag.metrics, tailtag.train.from_features, tailtag.train.head, tailtag.evaluation\n"
        "print(sorted(name for name in ('sklearn', 'pandas') if name in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
