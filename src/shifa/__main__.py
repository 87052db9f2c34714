import sys

from shifa.cli import main

sys.exit(main())
