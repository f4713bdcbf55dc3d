"""``python -m spotkern`` = the ``spotkern`` command."""
import sys

from spotkern.cli import main

sys.exit(main())
