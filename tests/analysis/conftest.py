"""Analysis tests are numpy-heavy but tiny; one thread avoids oversubscribing shared CPUs."""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
