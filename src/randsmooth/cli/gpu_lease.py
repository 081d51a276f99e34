"""``python -m randsmooth gpu-lease [options] -- COMMAND ...``: run COMMAND on one leased GPU.

How devices are chosen and locked: :mod:`randsmooth.gpu_lease`. Exit status: COMMAND's own (128 + N
if it was killed by signal N), 1 on a lease timeout (the message names each GPU's holder), 2 on bad
usage, 127 if COMMAND cannot be run.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from ..gpu_lease import DEFAULT_TIMEOUT, LOCK_DIR_ENV, acquire, decide, default_lock_dir, supervise
from .common import Parser, command

log = logging.getLogger(__name__)


def _device_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--devices must be comma-separated integers, got {text!r}") from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"--devices must be >= 0, got {text!r}")
    return values


def build_parser() -> Parser:
    p = Parser(
        prog="python -m randsmooth gpu-lease",
        description="Run COMMAND with CUDA_VISIBLE_DEVICES set to one leased GPU.",
        usage="python -m randsmooth gpu-lease [options] -- COMMAND [ARG ...]",
    )
    p.add_argument("--lock-dir", default=None, help=f"lock folder (default ${LOCK_DIR_ENV} or a per-user tmp folder)")
    p.add_argument("--devices", type=_device_list, default=None, help="device ids to lease from, e.g. 0,1")
    p.add_argument("--gpu-count", type=int, default=None, help="assume this many GPUs instead of asking nvidia-smi")
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"give up after this many seconds (default {DEFAULT_TIMEOUT:g}; inf: wait forever)",
    )
    p.add_argument("--poll", type=float, default=5.0, help="seconds between attempts while all GPUs are leased")
    p.add_argument(
        "--inherit-lock",
        action="store_true",
        help="exec COMMAND holding the lock: every process it starts inherits it (the lease ends with the last)",
    )
    return p


@command
def main(argv: list[str]) -> int:
    """Parse ``[options] -- COMMAND ...``, lease a device and exec COMMAND (returns only on error)."""
    split = argv.index("--") if "--" in argv else len(argv)
    args = build_parser().parse_args(argv[:split])  # --help exits here with status 0
    command = argv[split + 1 :]
    if not command:
        raise ValueError("gpu-lease needs a COMMAND after --: python -m randsmooth gpu-lease [options] -- COMMAND")
    env = dict(os.environ)
    decision = decide(env, args.devices, args.gpu_count)
    if decision.candidates:
        lock_dir = Path(args.lock_dir) if args.lock_dir else default_lock_dir()
        try:
            lease = acquire(
                decision.candidates, lock_dir, timeout=args.timeout, poll=args.poll, note=" ".join(command)[:500]
            )
        except (TimeoutError, ValueError, OSError) as exc:
            print(f"error: gpu-lease: {exc}", file=sys.stderr)
            return 1
        env["CUDA_VISIBLE_DEVICES"] = lease.device
        log.info("gpu-lease: %s; leased GPU %s (%s)", decision.reason, lease.device, lease.path)
        if not args.inherit_lock:
            return supervise(command, env, lease)
        os.set_inheritable(lease.fd, True)  # COMMAND and everything it starts keep the lock
    else:
        log.info("gpu-lease: %s", decision.reason)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(command[0], command, env)
    except OSError as exc:
        print(f"error: gpu-lease: cannot run {command[0]!r}: {exc}", file=sys.stderr)
        return 127
    return 0  # not reached
