#!/usr/bin/env bash
# A three-node RabbitMQ cluster on this machine, beside (never instead of)
# the system's RabbitMQ: nodes labornet-a, -b and -c @localhost, each with
# its own AMQP, distribution and management port, data dir and log, and one
# Erlang cookie of their own. For `make test-cluster` and for trying labornet
# against a cluster; a production cluster is three machines set up the same
# way (docs/deploy.md, "A RabbitMQ cluster").
#
#   deploy/rabbitmq-cluster/cluster.sh start    # start, join, wait (≤ 2 min)
#   deploy/rabbitmq-cluster/cluster.sh status   # nodes and their ports
#   deploy/rabbitmq-cluster/cluster.sh uris     # LABORNET_AMQP_URI for it
#   deploy/rabbitmq-cluster/cluster.sh stop-node b   # one node down
#   deploy/rabbitmq-cluster/cluster.sh start-node b  # and back
#   deploy/rabbitmq-cluster/cluster.sh stop     # every node, data removed
#
# Settings (environment): LABORNET_CLUSTER_DIR (default
# /tmp/labornet-rabbitmq-cluster), LABORNET_CLUSTER_PORT_BASE (default
# 27672: AMQP base+0..2, distribution base+10..12, management base+20..22;
# below the kernel's ephemeral range so no client socket holds them).
#
# Every labornet queue that carries events is a quorum queue already
# (labornet setup-broker and the consumers declare them so): replicated on
# all three nodes, a new leader elected when one stops. nameko's RPC queues
# (rpc-<service>) are classic; `labornet setup-broker` mirrors them on a
# cluster (see shared/labornet_shared/broker.py).
set -euo pipefail

RMQ_BIN=${RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}
DIR=${LABORNET_CLUSTER_DIR:-/tmp/labornet-rabbitmq-cluster}
BASE=${LABORNET_CLUSTER_PORT_BASE:-27672}
NODES=(a b c)
START_TIMEOUT=${LABORNET_CLUSTER_START_TIMEOUT:-180}

index() { case "$1" in a) echo 0 ;; b) echo 1 ;; c) echo 2 ;; *) echo "no node $1" >&2; exit 2 ;; esac; }
node_name() { echo "labornet-$1@localhost"; }
amqp_port() { echo $((BASE + $(index "$1"))); }
dist_port() { echo $((BASE + 10 + $(index "$1"))); }
mgmt_port() { echo $((BASE + 20 + $(index "$1"))); }

say() { echo "[cluster] $*" >&2; }

# the CLI tools and the nodes read the cookie from $HOME/.erlang.cookie
ctl() {
    local node=$1
    shift
    HOME="$DIR" RABBITMQ_CONF_ENV_FILE="$DIR/$node/rabbitmq-env.conf" \
        timeout 60 "$RMQ_BIN/rabbitmqctl" -q -n "$(node_name "$node")" "$@"
}

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

prepare() {
    local node=$1 d="$DIR/$1"
    mkdir -p "$d/mnesia" "$d/log"
    # our own env file: Debian's /etc/rabbitmq/rabbitmq-env.conf names the
    # system node, and its settings would win over nothing we leave unset
    cat >"$d/rabbitmq-env.conf" <<EOF
NODENAME=$(node_name "$node")
USE_LONGNAME=false
EOF
    cat >"$d/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$(amqp_port "$node")
management.tcp.ip = 127.0.0.1
management.tcp.port = $(mgmt_port "$node")
# a node that lost its peers pauses rather than serving a split brain
cluster_partition_handling = pause_minority
log.file.level = info
log.console = false
EOF
    # management (and its agent, which the others' UIs read) on every node:
    # whichever node stops, the API answers from another
    echo "[rabbitmq_management]." >"$d/enabled_plugins"
}

start_node() {
    local node=$1 d="$DIR/$1"
    for port in "$(amqp_port "$node")" "$(dist_port "$node")" "$(mgmt_port "$node")"; do
        if ! port_free "$port"; then
            say "port $port is taken; set LABORNET_CLUSTER_PORT_BASE"
            return 1
        fi
    done
    prepare "$node"
    # frugal: one scheduler per node, no busy waiting (the machine is shared)
    HOME="$DIR" \
    RABBITMQ_CONF_ENV_FILE="$d/rabbitmq-env.conf" \
    RABBITMQ_NODENAME="$(node_name "$node")" \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="$(amqp_port "$node")" \
    RABBITMQ_DIST_PORT="$(dist_port "$node")" \
    RABBITMQ_MNESIA_BASE="$d/mnesia" \
    RABBITMQ_LOG_BASE="$d/log" \
    RABBITMQ_LOGS="$d/log/node.log" \
    RABBITMQ_PID_FILE="$d/pid" \
    RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf" \
    RABBITMQ_ADVANCED_CONFIG_FILE="$d/advanced.config" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+S 1:1 +A 4 +sbwt none +sbwtdcpu none +sbwtdio none -kernel inet_dist_use_interface {127,0,0,1}" \
        setsid "$RMQ_BIN/rabbitmq-server" >"$d/log/stdout.log" 2>&1 </dev/null &
    echo $! >"$d/launcher.pid"
}

wait_node() {
    # await_startup gives up at once while the Erlang node is not yet
    # reachable (a busy machine boots it slowly): ask again until the cap
    local node=$1 deadline=$((SECONDS + START_TIMEOUT))
    until ctl "$node" await_startup --timeout 30 >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ] ||
            ! kill -0 "$(cat "$DIR/$node/launcher.pid")" 2>/dev/null; then
            say "$(node_name "$node") did not start; its log:"
            tail -n 30 "$DIR/$node/log/node.log" "$DIR/$node/log/stdout.log" >&2 || true
            return 1
        fi
        sleep 2
    done
}

cmd_start() {
    if [ -d "$DIR" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ]; then
        say "$DIR exists: a cluster may be running; stop it first"
        return 1
    fi
    mkdir -p "$DIR"
    chmod 700 "$DIR"
    # one cookie for the three nodes and the CLI, none shared with the system
    head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$DIR/.erlang.cookie"
    chmod 400 "$DIR/.erlang.cookie"
    trap 'say "start failed; stopping what started"; cmd_stop' ERR
    for node in "${NODES[@]}"; do
        start_node "$node"
    done
    for node in "${NODES[@]}"; do
        wait_node "$node"
    done
    for node in b c; do
        # (join_cluster logs "Failed to create a tracked connection table"
        # for the node while its app is stopped: harmless, so not shown)
        ctl "$node" stop_app >/dev/null 2>&1
        ctl "$node" join_cluster "$(node_name a)" >/dev/null 2>&1
        ctl "$node" start_app >/dev/null 2>&1
    done
    trap - ERR
    say "cluster up: $(cmd_uris)"
    cmd_status
}

cmd_stop() {
    for node in "${NODES[@]}"; do
        stop_one "$node" &
    done
    wait
    rm -rf "$DIR"
}

stop_one() {
    local node=$1 d="$DIR/$1"
    [ -f "$d/launcher.pid" ] || return 0
    ctl "$node" stop >/dev/null 2>&1 || true
    # whatever did not stop within the CLI's minute goes by its own pid
    local pid
    pid=$(cat "$d/pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    pid=$(cat "$d/launcher.pid")
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$d/launcher.pid"
}

cmd_status() {
    # through the management API: a CLI call boots an Erlang VM (seconds of
    # CPU each on a busy machine), an HTTP request does not
    local node answer=""
    for node in "${NODES[@]}"; do
        answer=$(curl -sf -m 5 -u guest:guest \
            "http://127.0.0.1:$(mgmt_port "$node")/api/nodes?columns=name,running" \
            2>/dev/null) && break
    done
    for node in "${NODES[@]}"; do
        local state=down
        if [ -n "$answer" ]; then
            state=$(python3 -c 'import json,sys
nodes = {n["name"]: n["running"] for n in json.loads(sys.argv[1])}
print({True: "running", False: "stopped"}.get(nodes.get(sys.argv[2]), "not in cluster"))' \
                "$answer" "$(node_name "$node")")
        fi
        printf '%-22s amqp 127.0.0.1:%s  management http://127.0.0.1:%s  %s\n' \
            "$(node_name "$node")" "$(amqp_port "$node")" "$(mgmt_port "$node")" "$state"
    done
    [ -n "$answer" ]
}

cmd_uris() {
    local uris=() node
    for node in "${NODES[@]}"; do
        uris+=("amqp://guest:guest@127.0.0.1:$(amqp_port "$node")/")
    done
    (IFS=';'; echo "${uris[*]}")
}

cmd_management_urls() {
    local urls=() node
    for node in "${NODES[@]}"; do
        urls+=("http://guest:guest@127.0.0.1:$(mgmt_port "$node")")
    done
    (IFS=';'; echo "${urls[*]}")
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    uris) cmd_uris ;;
    management-urls) cmd_management_urls ;;
    stop-node) ctl "${2:?node: a, b or c}" stop_app ;;
    start-node) ctl "${2:?node: a, b or c}" start_app ;;
    kill-node)
        # the whole Erlang VM, as a machine that dies
        kill -KILL "$(cat "$DIR/${2:?node: a, b or c}/pid")" ;;
    *)
        sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
        exit 2 ;;
esac
