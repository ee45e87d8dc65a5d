"""`python -m engine.cli`: how the `deepspeed` launcher starts `pixsift train` (`--module engine.cli`)."""

import sys

from engine.cli import main

sys.exit(main())
