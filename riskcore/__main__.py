import sys

from riskcore.cli import main

sys.exit(main())
