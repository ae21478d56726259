#!/usr/bin/env bash
# dockgate's benchmark: starts every target, runs the load generator once
# over all of them (interleaved), writes bench/results/latest.md, and tears
# everything down on exit. Run as root (the second dockerd, its bridge).
#
#   bench/run.sh            # full run: 5 repetitions of 3 s, 1 GiB streams (~8-10 min)
#   bench/run.sh --quick    # 1 repetition of 1 s, 256 MiB streams (< 2 min after the builds)
#
# Environment (defaults in brackets):
#   REPS [5]  DURATION seconds per cell [3]  STREAM_MIB [1024]  IDLE_CONNS [1000]
#   WORKLOADS [idle,ping1,ping32,handshake,download,upload,inspect]  WARMUP seconds [1]
#     (also: exec; inspect and exec run on a container made for the run, labelled for tenant "bench")
#   LOADGEN_THREADS [2]  NGINX_WORKERS [nproc]  DOCKGATE_LOG_LEVEL [info]
#   ENGINE_SOCK [/var/run/docker.sock]  DOCKERD_PID [from /var/run/docker.pid]
#   BASE_PORT [23760]: seven loopback ports from here on
#   WITH_NGINX [1]  WITH_DOCKERD_TLS [1]  SKIP_BUILD [0]
#   WITH_QUIET_DOCKGATE [1]: also measure dockgate without its audit log (fake engine)
#   WITH_TLS_RELAY [1]: also measure the floor: mutual TLS plus a byte copy to the socket (fake engine)
#   WITH_LOCAL [1]: also measure the real engine's dockgate on unix sockets: a client's own and the
#     shared one (uid lookup); ping1, ping32, inspect, exec
#   WITH_AUDIT [1]: also measure the real engine's dockgate as a client in audit mode (inspect, exec)
#   NGINX_STREAM_BUFFER [64k]: nginx's buffers on the streaming paths ("" = nginx's defaults)
#   OUT [bench/results/latest.md]  CARGO_TARGET_DIR [target]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")

if [[ "${1:-}" == "--quick" ]]; then
    : "${REPS:=1}" "${DURATION:=1}" "${STREAM_MIB:=256}" "${WARMUP:=0.5}"
elif [[ -n "${1:-}" ]]; then
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
: "${REPS:=5}" "${DURATION:=3}" "${STREAM_MIB:=1024}" "${IDLE_CONNS:=1000}" "${WARMUP:=1}"
: "${WORKLOADS:=idle,ping1,ping32,handshake,download,upload,inspect}"
: "${LOADGEN_THREADS:=2}" "${NGINX_WORKERS:=$(nproc)}" "${DOCKGATE_LOG_LEVEL:=info}"
: "${ENGINE_SOCK:=/var/run/docker.sock}" "${BASE_PORT:=23760}"
: "${WITH_NGINX:=1}" "${WITH_DOCKERD_TLS:=1}" "${WITH_QUIET_DOCKGATE:=1}" "${WITH_TLS_RELAY:=1}" "${SKIP_BUILD:=0}"
: "${WITH_LOCAL:=1}" "${WITH_AUDIT:=1}"
: "${OUT:=$here/results/latest.md}"
: "${NGINX_STREAM_BUFFER=64k}"
: "${CARGO_TARGET_DIR:=$repo/target}"
export CARGO_TARGET_DIR

port_dockgate_fake=$BASE_PORT
port_dockgate_real=$((BASE_PORT + 1))
port_nginx_fake=$((BASE_PORT + 2))
port_nginx_real=$((BASE_PORT + 3))
port_dockerd_tls=$((BASE_PORT + 4))
port_dockgate_quiet=$((BASE_PORT + 5))
port_tls_relay=$((BASE_PORT + 6))
bridge=dgbench0
bridge_addr=10.254.213.1/24
# The container workloads' tenant, and the image their container runs (the
# test suite's; imported from busybox-static if missing, as the tests do).
tenant=bench
image_repo=dockgate-test/busybox
image_tag=applets-2
with_container=0
[[ ,$WORKLOADS, == *,inspect,* || ,$WORKLOADS, == *,exec,* ]] && with_container=1

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Waits (bounded) until COMMAND succeeds; WHAT names it in the error.
wait_for() {
    local what=$1 tries=$2; shift 2
    local i
    for ((i = 0; i < tries; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    die "$what did not come up within $((tries / 5)) s"
}
listening() { ss -Hltn "sport = :$1" | grep -q LISTEN; }
engine_up() { curl -sf --max-time 2 --unix-socket "$1" http://docker/_ping; }
# The host's Engine API: engine_api METHOD PATH [curl arguments...]
engine_api() {
    local method=$1 path=$2; shift 2
    curl -sf --max-time 60 --unix-socket "$ENGINE_SOCK" -X "$method" "$@" "http://docker/v1.41$path"
}

[[ $(id -u) == 0 ]] || die "run as root: the second dockerd and its bridge need it"
[[ -S $ENGINE_SOCK ]] || die "no Docker Engine socket at $ENGINE_SOCK"
for p in "$port_dockgate_fake" "$port_dockgate_real" "$port_nginx_fake" "$port_nginx_real" "$port_dockerd_tls" "$port_dockgate_quiet" "$port_tls_relay"; do
    ! listening "$p" || die "port $p is in use; set BASE_PORT"
done
if [[ $WITH_NGINX == 1 ]] && ! command -v nginx >/dev/null; then
    log "nginx not installed; leaving it out"
    WITH_NGINX=0
fi
if [[ $WITH_DOCKERD_TLS == 1 ]] && ip link show "$bridge" >/dev/null 2>&1; then
    die "bridge $bridge exists already (another run, or a leftover: ip link del $bridge)"
fi
: "${DOCKERD_PID:=$(cat /var/run/docker.pid 2>/dev/null || pgrep -xo dockerd || true)}"
[[ -n $DOCKERD_PID ]] || die "cannot find the running dockerd's pid; set DOCKERD_PID"

if [[ $SKIP_BUILD != 1 ]]; then
    log "building dockgate and the load generator (release)"
    (cd "$repo" && cargo build --release --quiet)
    (cd "$here/loadgen" && cargo build --release --quiet)
fi
dockgate=$CARGO_TARGET_DIR/release/dockgate
loadgen=$CARGO_TARGET_DIR/release/loadgen

work=$(mktemp -d /tmp/dgbench.XXXXXX)
pids=()            # everything we started, stopped in reverse order
dockerd_pid=""
bridge_made=0
bench_container=""

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    log "tearing down"
    if [[ $status != 0 ]]; then
        # The logs go with the work folder; show their ends first.
        find "$work" -maxdepth 3 -name '*.log' -size +0 2>/dev/null | while read -r f; do
            log "--- ${f#"$work"/}"
            tail -n 5 "$f" >&2
        done
    fi
    local i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${pids[i]}" 2>/dev/null || true
    done
    if [[ -n $dockerd_pid ]]; then
        # dockerd takes a moment to stop; bounded wait, then force.
        for ((i = 0; i < 100; i++)); do
            kill -0 "$dockerd_pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$dockerd_pid" 2>/dev/null || true
    fi
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n $bench_container ]]; then
        engine_api DELETE "/containers/$bench_container?force=1" >/dev/null ||
            log "could not remove container $bench_container"
    fi
    if [[ $bridge_made == 1 ]]; then
        ip link del "$bridge" 2>/dev/null || log "could not delete bridge $bridge"
    fi
    if [[ -d $work/dockerd/exec ]]; then
        # Anything dockerd left mounted under its roots must not be removed through.
        grep -o " $work/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    fi
    rm -rf "$work" || log "left $work behind"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Idle streams need two descriptors each in a proxy; take what the hard limit allows.
ulimit -n "$(ulimit -Hn)"

log "creating a throwaway PKI in $work/pki"
"$dockgate" pki init --dir "$work/pki" >/dev/null
"$dockgate" pki server --dir "$work/pki" --san IP:127.0.0.1 --san DNS:localhost >/dev/null
"$dockgate" pki client bench --dir "$work/pki" >/dev/null
"$dockgate" pki client bench-tenant --dir "$work/pki" >/dev/null
"$dockgate" pki client bench-audit --dir "$work/pki" >/dev/null
ca=$work/pki/ca.pem
server_cert=$work/pki/server-cert.pem
server_key=$work/pki/server-key.pem

log "starting the fake engine"
"$loadgen" fake-engine --socket "$work/fake.sock" --threads 2 2>"$work/fake-engine.log" &
fake_pid=$!
pids+=("$fake_pid")
wait_for "the fake engine" 50 engine_up "$work/fake.sock"

# The real engine's dockgate also serves unix sockets (plain HTTP/1.1): a
# client's own, and the shared one where the peer's uid (the load
# generator runs as root) names the client. Same policy as over TLS.
own_sock=$work/dockgate-bench.sock
shared_sock=$work/dockgate-shared.sock
local_top=""
local_clients=""
if [[ $WITH_LOCAL == 1 ]]; then
    local_top="local_listen = \"$shared_sock\""
    local_clients="
[clients.bench-socket]             # whoever opens its socket
policies = [\"everything\"]
socket = \"$own_sock\"

[clients.bench-uid]                # uid 0 on the shared socket
policies = [\"everything\"]
uids = [0]
"
fi

# One dockgate per engine, allowing everything to the bench client.
# EXTRA_TOP and EXTRA_CLIENTS (optional) add top-level keys and clients.
start_dockgate() {
    local name=$1 port=$2 upstream=$3 level=$4 extra_top=${5:-} extra_clients=${6:-}
    cat >"$work/dockgate-$name.toml" <<EOF
listen = "127.0.0.1:$port"
upstream = "$upstream"
$extra_top

[tls]
ca = "$ca"
cert = "$server_cert"
key = "$server_key"

[clients.bench]
policies = ["everything"]

[clients.bench-tenant]                 # the container workloads' confined client
policies = ["everything"]
tenant = "$tenant"

[clients.bench-audit]                  # the same policy, in audit mode
policies = ["everything"]
mode = "audit"
$extra_clients
[policies.everything]
allow = ["* /**"]

[policies.everything.grants]
unknown_routes = true              # the fake engine's /bench/ paths are no Engine route

[limits]
max_connections = 8192             # the idle-streams case holds $IDLE_CONNS at once
max_connections_per_client = 4096

[log]
level = "$level"                   # "info", the default, writes one audit line per request
EOF
    "$dockgate" serve --config "$work/dockgate-$name.toml" 2>"$work/dockgate-$name.log" &
    started_pid=$!
    pids+=("$started_pid")
    wait_for "dockgate ($name engine)" 50 listening "$port"
}
log "starting dockgate in front of the fake and the real engine"
start_dockgate fake "$port_dockgate_fake" "$work/fake.sock" "$DOCKGATE_LOG_LEVEL"
dockgate_fake_pid=$started_pid
start_dockgate real "$port_dockgate_real" "$ENGINE_SOCK" "$DOCKGATE_LOG_LEVEL" "$local_top" "$local_clients"
dockgate_real_pid=$started_pid
if [[ $WITH_LOCAL == 1 ]]; then
    wait_for "dockgate's own socket for bench-socket" 50 engine_up "$own_sock"
    wait_for "dockgate's shared socket" 50 engine_up "$shared_sock"
fi
if [[ $WITH_QUIET_DOCKGATE == 1 ]]; then
    # A reference, not a target: what the per-request audit line costs.
    start_dockgate quiet "$port_dockgate_quiet" "$work/fake.sock" warn
    dockgate_quiet_pid=$started_pid
fi
if [[ $WITH_TLS_RELAY == 1 ]]; then
    # A reference, not a target: TLS termination and a byte copy, nothing
    # else; what any gateway on this machine pays before doing its work.
    log "starting the TLS relay in front of the fake engine"
    "$loadgen" tls-relay --listen "127.0.0.1:$port_tls_relay" --socket "$work/fake.sock" \
        --ca "$ca" --cert "$server_cert" --key "$server_key" --threads "$(nproc)" 2>"$work/tls-relay.log" &
    tls_relay_pid=$!
    pids+=("$tls_relay_pid")
    wait_for "the TLS relay" 50 listening "$port_tls_relay"
fi

# The fake engine's streaming endpoints get buffers the size of the chunks
# sent, instead of the 4-8 KiB defaults that cap nginx's throughput; the
# other paths keep the defaults, so idle streams cost what they would.
nginx_stream_location() {
    [[ -n $NGINX_STREAM_BUFFER ]] || return 0
    cat <<EOF
        location /bench/ {
            proxy_pass http://engine;
            proxy_buffer_size $NGINX_STREAM_BUFFER;
            proxy_buffers 4 $NGINX_STREAM_BUFFER;
            proxy_busy_buffers_size $(( ${NGINX_STREAM_BUFFER%k} * 2 ))k;
            client_body_buffer_size $NGINX_STREAM_BUFFER;
        }
EOF
}

# One nginx per engine, like dockgate, so each one's memory and CPU are its own.
start_nginx() {
    local name=$1 port=$2 upstream=$3
    local dir=$work/nginx-$name
    mkdir -p "$dir/logs"
    cat >"$dir/nginx.conf" <<EOF
daemon off;
user root;                          # the Engine's socket is root:docker 0660
worker_processes $NGINX_WORKERS;
worker_rlimit_nofile $(ulimit -Hn);
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;

events {
    worker_connections 8192;        # idle streams: each needs a client and an upstream connection
}

http {
    access_log $dir/logs/access.log;  # one line per request, like dockgate's audit log
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_max_body_size 0;

    ssl_certificate $server_cert;
    ssl_certificate_key $server_key;
    ssl_client_certificate $ca;
    ssl_verify_client on;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;           # every connection a full handshake, as in dockgate
    ssl_session_tickets off;

    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host docker;
    proxy_buffering off;             # streams pass through as they come
    proxy_request_buffering off;
    proxy_read_timeout 3600s;
    proxy_send_timeout 3600s;

    upstream engine {
        server unix:$upstream;
        keepalive 64;
        keepalive_requests 1000000;
        keepalive_timeout 300s;
    }
    server {
        listen 127.0.0.1:$port ssl;
        location / { proxy_pass http://engine; }
$(nginx_stream_location)
    }
}
EOF
    nginx -p "$dir" -c "$dir/nginx.conf" 2>"$dir/logs/stderr.log" &
    local master=$!
    pids+=("$master")
    wait_for "nginx ($name engine)" 50 listening "$port"
    local workers
    workers=$(pgrep -P "$master" | paste -sd+ -)
    started_pids="$master${workers:++$workers}"
}
if [[ $WITH_NGINX == 1 ]]; then
    log "starting nginx in front of the fake and the real engine"
    start_nginx fake "$port_nginx_fake" "$work/fake.sock"
    nginx_fake_pids=$started_pids
    start_nginx real "$port_nginx_real" "$ENGINE_SOCK"
    nginx_real_pids=$started_pids
fi

if [[ $WITH_DOCKERD_TLS == 1 ]]; then
    log "starting a second dockerd with --tlsverify on 127.0.0.1:$port_dockerd_tls"
    d=$work/dockerd
    mkdir -p "$d/data" "$d/exec"
    echo '{}' >"$d/daemon.json"
    # Its own bridge: never --bridge=none, which would delete the host's docker0.
    ip link add name "$bridge" type bridge
    bridge_made=1
    ip addr add "$bridge_addr" dev "$bridge"
    ip link set "$bridge" up
    containerd_args=()
    if [[ -S /var/run/docker/containerd/containerd.sock ]]; then
        # Share the running containerd, in namespaces of its own.
        containerd_args=(--containerd /var/run/docker/containerd/containerd.sock
            --containerd-namespace dgbench --containerd-plugins-namespace dgbench-plugins)
    fi
    dockerd --config-file "$d/daemon.json" --data-root "$d/data" --exec-root "$d/exec" \
        --pidfile "$d/dockerd.pid" -H "unix://$d/docker.sock" -H "tcp://127.0.0.1:$port_dockerd_tls" \
        --tlsverify --tlscacert "$ca" --tlscert "$server_cert" --tlskey "$server_key" \
        --bridge="$bridge" --iptables=false --ip-masq=false "${containerd_args[@]}" \
        --log-level warn >"$d/dockerd.log" 2>&1 &
    dockerd_pid=$!
    pids+=("$dockerd_pid")
    wait_for "the second dockerd" 300 engine_up "$d/docker.sock"
    wait_for "the second dockerd's TLS port" 50 listening "$port_dockerd_tls"
fi

# A running container of the tenant's, for the container workloads: made
# directly on the Engine with the tenant's label, removed on exit.
container_args=()
if [[ $with_container == 1 ]]; then
    if ! engine_api GET "/images/$image_repo:$image_tag/json" >/dev/null; then
        busybox=$(command -v busybox || true)
        [[ -n $busybox ]] || die "no image $image_repo:$image_tag and no busybox to import one from"
        log "importing $image_repo:$image_tag from $busybox"
        mkdir -p "$work/image/bin" "$work/image/tmp"
        cp "$busybox" "$work/image/bin/busybox"
        for applet in sh cat echo ls sleep true false head wc env dd md5sum seq; do
            ln -s busybox "$work/image/bin/$applet"
        done
        tar -C "$work/image" -c . | engine_api POST "/images/create?fromSrc=-&repo=$image_repo&tag=$image_tag" \
            -H 'Content-Type: application/x-tar' --data-binary @- >/dev/null
    fi
    log "starting a container labelled dockgate.tenant=$tenant"
    created=$(engine_api POST "/containers/create?name=dgbench-tenant-$$" -H 'Content-Type: application/json' \
        -d "{\"Image\":\"$image_repo:$image_tag\",\"Cmd\":[\"sleep\",\"2147483647\"],
             \"Labels\":{\"dockgate.tenant\":\"$tenant\"},\"HostConfig\":{\"NetworkMode\":\"none\"}}") ||
        die "could not create the bench container"
    bench_container=$(sed -n 's/.*"Id":"\([0-9a-f]\{64\}\)".*/\1/p' <<<"$created")
    [[ -n $bench_container ]] || die "the Engine's create answer had no ID: $created"
    engine_api POST "/containers/$bench_container/start" >/dev/null || die "could not start the bench container"
    container_args=(--container "$bench_container"
        --client "bench-tenant,$work/pki/clients/bench-tenant/cert.pem,$work/pki/clients/bench-tenant/key.pem"
        --client "bench-audit,$work/pki/clients/bench-audit/cert.pem,$work/pki/clients/bench-audit/key.pem")
fi

targets=(
    --target "direct,fake,unix:$work/fake.sock,$fake_pid"
    --target "dockgate,fake,tls:127.0.0.1:$port_dockgate_fake,$dockgate_fake_pid"
)
[[ $WITH_QUIET_DOCKGATE == 1 ]] && targets+=(--target "dockgate-quiet,fake,tls:127.0.0.1:$port_dockgate_quiet,$dockgate_quiet_pid")
[[ $WITH_NGINX == 1 ]] && targets+=(--target "nginx,fake,tls:127.0.0.1:$port_nginx_fake,$nginx_fake_pids")
[[ $WITH_TLS_RELAY == 1 ]] && targets+=(--target "tls-relay,fake,tls:127.0.0.1:$port_tls_relay,$tls_relay_pid")
targets+=(
    --target "direct,real,unix:$ENGINE_SOCK,$DOCKERD_PID"
    --target "dockgate,real,tls:127.0.0.1:$port_dockgate_real,$dockgate_real_pid"
)
# The same dockgate again, as the confined client: the container workloads only.
[[ $with_container == 1 ]] && targets+=(--target "dockgate-tenant,real,tls:127.0.0.1:$port_dockgate_real,$dockgate_real_pid,bench-tenant")
# ...as a client in audit mode: the container workloads only.
[[ $with_container == 1 && $WITH_AUDIT == 1 ]] &&
    targets+=(--target "dockgate-audit,real,tls:127.0.0.1:$port_dockgate_real,$dockgate_real_pid,bench-audit")
# ...and on its unix sockets.
[[ $WITH_LOCAL == 1 ]] && targets+=(
    --target "dockgate-socket,real,unix:$own_sock,$dockgate_real_pid"
    --target "dockgate-shared,real,unix:$shared_sock,$dockgate_real_pid"
)
[[ $WITH_NGINX == 1 ]] && targets+=(--target "nginx,real,tls:127.0.0.1:$port_nginx_real,$nginx_real_pids")
[[ $WITH_DOCKERD_TLS == 1 ]] && targets+=(--target "dockerd-tls,real,tls:127.0.0.1:$port_dockerd_tls,$dockerd_pid")

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
log "measuring: $REPS repetitions of $DURATION s, streams of $STREAM_MIB MiB, $IDLE_CONNS idle streams"
SECONDS=0
"$loadgen" run "${targets[@]}" \
    --ca "$ca" --cert "$work/pki/clients/bench/cert.pem" --key "$work/pki/clients/bench/key.pem" \
    --reps "$REPS" --duration "$DURATION" --stream-mib "$STREAM_MIB" --idle "$IDLE_CONNS" \
    --workloads "$WORKLOADS" --warmup "$WARMUP" --threads "$LOADGEN_THREADS" "${container_args[@]}" \
    --clk-tck "$(getconf CLK_TCK)" --out "$work/table.md"
elapsed=$SECONDS
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

commit=$(git -C "$repo" log -1 --format=%h -- src Cargo.toml Cargo.lock 2>/dev/null || echo unknown)
head=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$repo" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null | grep -q . && echo " (src modified)" || true)
mkdir -p "$(dirname "$OUT")"
{
    echo "# dockgate benchmark"
    echo
    echo "- date: $started, $elapsed s of measuring"
    echo "- dockgate commit: $commit$dirty (last commit touching src/; checkout at $head)"
    echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
    echo "- kernel: $(uname -sr)"
    echo "- load average (1/5/15 min) before: $load_before, after: $load_after — the machine is shared, and the load generator, the proxy and the Engine share its $(nproc) cores"
    echo "- engine: $(dockerd --version 2>/dev/null || echo unknown); nginx: $(if [[ $WITH_NGINX == 1 ]]; then nginx -v 2>&1 | cut -d/ -f2; else echo "not run"; fi), $NGINX_WORKERS workers, streaming-path buffers ${NGINX_STREAM_BUFFER:-default}"
    echo "- run as: REPS=$REPS DURATION=$DURATION WORKLOADS=$WORKLOADS WITH_NGINX=$WITH_NGINX WITH_DOCKERD_TLS=$WITH_DOCKERD_TLS WITH_QUIET_DOCKGATE=$WITH_QUIET_DOCKGATE WITH_TLS_RELAY=$WITH_TLS_RELAY WITH_LOCAL=$WITH_LOCAL WITH_AUDIT=$WITH_AUDIT bench/run.sh"
    echo "- settings: $REPS repetitions, $DURATION s per cell, $STREAM_MIB MiB streams, $IDLE_CONNS idle streams, load generator on $LOADGEN_THREADS threads, dockgate log level $DOCKGATE_LOG_LEVEL"
    echo
    cat "$work/table.md"
    echo
    echo "Reading the table: Result is the median over repetitions (idle streams: the largest)."
    echo "× direct is Result over the direct socket's Result for the same engine. Server CPU is the"
    echo "utime+stime of the target's processes (dockgate; nginx master and workers; the dockerd"
    echo "serving the socket) per request, connection or MiB. Loadgen CPU is the load generator's"
    echo "own utime+stime over wall time: with $(nproc) cores shared by load generator, proxy and Engine,"
    echo "whatever it uses is not available to the target. The direct rows of the real engine are the"
    echo "host's dockerd; dockerd-tls is a second dockerd of the same version with its own data root."
    echo "dockgate-quiet is dockgate with [log] level = \"warn\": no audit line per request; a reference"
    echo "for what the audit log costs, not one of the compared targets. tls-relay is the floor under"
    echo "any TLS gateway here: the same rustls server configuration, then one unix connection per"
    echo "client connection and a byte copy both ways (no HTTP, no policy, no log); also a reference."
    echo "dockgate-tenant is the real engine's dockgate again, reached as a client confined to tenant"
    echo "\"$tenant\" (same policy): it runs only the container workloads (inspect, exec), on a running"
    echo "container labelled dockgate.tenant=$tenant made for the run. dockgate-audit is the same"
    echo "dockgate reached as a client in audit mode (same policy; inspect and exec only)."
    echo "dockgate-socket and dockgate-shared are the same dockgate on unix sockets (plain HTTP/1.1):"
    echo "a client's own socket, and the shared socket where the peer's uid names the client."
    echo "See bench/README.md."
} >"$OUT"
log "wrote $OUT"
cat "$OUT"
