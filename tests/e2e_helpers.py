"""Helpers of the end-to-end tests: run the project's commands in subprocesses."""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]

R_FAST, R_SLOW = 3.0, 4.5
EMT_TYPE_NAMES = ["Au", "Cu"]


def _bin(name):
    return str(pathlib.Path(sys.executable).parent / name)


def run_command(args, cwd, timeout=1200):
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(
            f"{args[0]} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc
