"""Golden-master regression test for a short new-rules-2025 run.

``golden_new_rules_2025.csv`` holds selected columns of the model table of ``new-rules-2025`` with
``run.borrowers=2000``, ``run.months=6`` and seed 11 (settings in ``make_golden.py``). The test reruns
that configuration and compares numbers to the file with ``rtol=1e-9``.

The golden file must change only together with a deliberate, explained model change (a mechanism,
a default parameter, the random-draw order): a failure here otherwise means behaviour drifted by
accident. After such a change, regenerate it from the repository root with::

    python tests/regression/make_golden.py

and state in the change description why the numbers moved.
"""

import numpy as np
import pandas as pd
from make_golden import COLUMNS, GOLDEN, run_table


def test_new_rules_2025_matches_golden():
    expected = pd.read_csv(GOLDEN)
    actual = run_table()
    assert list(expected.columns) == COLUMNS
    assert len(actual) == len(expected) == 6
    assert actual["date"].tolist() == expected["date"].tolist()
    for col in COLUMNS:
        if col == "date":
            continue
        np.testing.assert_allclose(actual[col].to_numpy(dtype=float), expected[col].to_numpy(dtype=float),
                                   rtol=1e-9, atol=1e-12, err_msg=col)
