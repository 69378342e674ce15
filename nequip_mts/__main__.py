"""``python -m nequip_mts``: the same as the ``nequip-mts`` command."""

import sys

from nequip_mts.cli.main import main

sys.exit(main())
