"""Start ``zhudai dashboard`` with a fault injected into the model, for the error-path browser test.

Every run raises ``FloatingPointError`` while settling repayments in :data:`FAULT_MONTH`; everything
else is the real dashboard. Arguments are passed to ``zhudai dashboard``.
"""

from __future__ import annotations

import sys

FAULT_MONTH = "2024-05"
MESSAGE = "injected fault for the browser test"


def install_fault() -> None:
    """Patch the model class in this process only (the server's), never in the test process."""
    from model.lending import LendingModel

    settle = LendingModel.settle_repayments

    def faulty_settle(self: LendingModel, *args):
        if not self.burning_in and self.date == FAULT_MONTH:
            raise FloatingPointError(MESSAGE)
        return settle(self, *args)

    LendingModel.settle_repayments = faulty_settle  # type: ignore[method-assign]


if __name__ == "__main__":
    install_fault()
    from experiments.cli.main import main

    sys.exit(main(["dashboard", *sys.argv[1:]]))
