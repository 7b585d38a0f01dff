import sys

from minicnn.train.command import main

sys.exit(main())
