#!/bin/sh
# sweep_long.sh - tests/sweep.sh with a VAE, more steps and a killed run that resumes (make check-long)
SWEEP_LONG=1 exec "$(dirname "$0")/sweep.sh" "$@"
