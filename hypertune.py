#!/usr/bin/env python
"""Hyperparameter search over the heartbeat model zoo: `python hypertune.py --help`."""

import sys

from heartbeat.tuning.tune import main

if __name__ == "__main__":
    sys.exit(main())
