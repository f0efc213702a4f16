#!/bin/bash
# A Slurm job array of gum simulators that join a running ppxd (its config has
# registration = "tcp://*:5600"): sbatch --array=0-31 examples/slurm/gum-array.sh
# Each task serves PPX on its own port, registers it, and leaves the pool when Slurm ends it.
#SBATCH --array=0-31 --time=12:00:00
# PPXD_REGISTRATION: the daemon's registration endpoint; GUM: the simulator; HOST: how the daemon
# reaches this node; BIND: the interface gum listens on. The defaults suit a cluster; the test
# (tests/integration/test_daemon.cpp) sets them all.
registration=${PPXD_REGISTRATION:-tcp://ppxd-host:5600}
gum=${GUM:-build/bin/gum}
host=${HOST:-$(hostname)}
port=$((${PORT_BASE:-6000} + SLURM_ARRAY_TASK_ID))
endpoint="tcp://$host:$port"
say() {  # one ZeroMQ REQ message to the daemon; prints its answer, fails unless it says ok
  /usr/bin/python3 -c "import json, sys, zmq
s = zmq.Context().socket(zmq.REQ); s.setsockopt(zmq.RCVTIMEO, 10000); s.setsockopt(zmq.LINGER, 0)
s.connect(sys.argv[1]); s.send_json(json.loads(sys.argv[2])); r = s.recv_json(); print(r); sys.exit(0 if r.get('ok') else 1)" \
    "$registration" "$1"
}
"$gum" --serve "tcp://${BIND:-*}:$port" &
simulator=$!
leave() {
  say "{\"model\": \"gum\", \"endpoint\": \"$endpoint\", \"leave\": true}"
  kill "$simulator" 2>/dev/null
}
trap leave TERM INT
say "{\"model\": \"gum\", \"endpoint\": \"$endpoint\"}" || { kill "$simulator"; exit 1; }
wait "$simulator"
