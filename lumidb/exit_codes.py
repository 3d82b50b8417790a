"""The exit codes every lumidb command uses; the one place that defines them."""

from typing import Final

SUCCESS: Final = 0
FAILED: Final = 1
USAGE: Final = 2
REFUSED: Final = 3
