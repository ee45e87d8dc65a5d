"""`python -m pixsift.engine.cli`: how the `deepspeed` launcher starts `pixsift train`
(`--module pixsift.engine.cli`)."""

import sys

from pixsift.engine.cli import main

sys.exit(main())
