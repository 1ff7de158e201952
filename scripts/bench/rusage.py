#!/usr/bin/env python3
# Interleaved timing with CPU time per run, which Node's spawnSync cannot give: each command is
# run RUNS times round-robin (after WARMUP untimed rounds), output to /dev/null, and both its wall
# time and its CPU time (user + sys of the process and the children it waited for: wait4's
# rusage) are kept. Prints one JSON object: {label: {"wall": [ms...], "cpu": [ms...]}}.
#   rusage.py RUNS WARMUP SPEC.json   (SPEC: [{"label", "argv", "env"}], env complete)
import json
import os
import sys
import time

runs, warmup = int(sys.argv[1]), int(sys.argv[2])
with open(sys.argv[3]) as f:
    cases = json.load(f)
devnull = os.open(os.devnull, os.O_RDWR)
dups = [(os.POSIX_SPAWN_DUP2, devnull, fd) for fd in (0, 1, 2)]
out = {c['label']: {'wall': [], 'cpu': []} for c in cases}
for round_ in range(-warmup, runs):
    for c in cases:
        started = time.perf_counter()
        pid = os.posix_spawn(c['argv'][0], c['argv'], c['env'], file_actions=dups)
        _, status, usage = os.wait4(pid, 0)
        wall = (time.perf_counter() - started) * 1000
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"{' '.join(c['argv'])}: exit status {os.waitstatus_to_exitcode(status)}")
        if round_ >= 0:
            out[c['label']]['wall'].append(wall)
            out[c['label']]['cpu'].append((usage.ru_utime + usage.ru_stime) * 1000)
json.dump(out, sys.stdout)
