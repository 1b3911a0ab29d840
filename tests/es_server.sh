#!/usr/bin/env bash
# A real Elasticsearch server for the tests: the test distribution from Maven Central,
# unpacked under .es/, run on 127.0.0.1 with a small heap. No mocks, no emulators.
#
# Usage: tests/es_server.sh start|stop|status|restart [main|secure|chaos|all]
#   main   security off, port $DOSSIER_ES_PORT (9200): the main test suite
#   secure security and TLS on, https on port $DOSSIER_ES_SECURE_PORT (9201), a test CA
#          copied to .es/secure-ca.crt, user `elastic` with the password
#          $DOSSIER_ES_TEST_PASSWORD: the authentication and TLS tests
#   chaos  security off, port $DOSSIER_ES_CHAOS_PORT (9202): a server the reliability
#          test stops in the middle of an ingest
# `start` without a name starts main, `start all` main and secure; `stop`/`status`
# without a name (or with all) mean every instance.
# Starting a running instance, or stopping a stopped one, is not an error.
#
# Elasticsearch refuses to run as root; as root (CI), the script creates the unprivileged
# system user `dossier-es`, hands .es/ to it and runs the server through runuser.
set -euo pipefail

ES_VERSION="${DOSSIER_ES_VERSION:-9.5.0}"
ES_PORT="${DOSSIER_ES_PORT:-9200}"
ES_SECURE_PORT="${DOSSIER_ES_SECURE_PORT:-9201}"
ES_CHAOS_PORT="${DOSSIER_ES_CHAOS_PORT:-9202}"
# A test-only password for a server bound to loopback; never a production secret.
ES_TEST_PASSWORD="${DOSSIER_ES_TEST_PASSWORD:-dossier-test-secret}"
ES_JAVA_HOME="${ES_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
ES_HEAP="${DOSSIER_ES_HEAP:-512m}"
ES_USER="dossier-es"
START_TIMEOUT="${DOSSIER_ES_START_TIMEOUT:-180}"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ES_ROOT="$REPO/.es"  # may move, see resolve_root
ES_HOME="$ES_ROOT/elasticsearch-$ES_VERSION"
GROUP_PATH="org/elasticsearch/distribution/integ-test-zip/elasticsearch"
M2_REPO="${MAVEN_REPO_LOCAL:-$HOME/.m2/repository}"
ZIP="$M2_REPO/$GROUP_PATH/$ES_VERSION/elasticsearch-$ES_VERSION.zip"

log() { printf 'es_server: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

port_of() {
    case $1 in
        secure) echo "$ES_SECURE_PORT" ;;
        chaos) echo "$ES_CHAOS_PORT" ;;
        *) echo "$ES_PORT" ;;
    esac
}
node_dir() { echo "$ES_ROOT/node-$1"; }
pid_file() { echo "$(node_dir "$1")/es.pid"; }

as_es_user() {
    # Run a command as the user that owns the server (root cannot run Elasticsearch).
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u "$ES_USER" -- "$@"
    else
        "$@"
    fi
}

fetch_distribution() {
    if [[ -f $ZIP ]]; then
        return
    fi
    command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch Elasticsearch: apt-get install maven"
    log "fetching org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip"
    mvn -q -B -Dstyle.color=never org.apache.maven.plugins:maven-dependency-plugin:3.8.1:get \
        -Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip" \
        -Dtransitive=false ${MAVEN_REPO_LOCAL:+-Dmaven.repo.local="$MAVEN_REPO_LOCAL"} >&2 \
        || die "Maven could not fetch Elasticsearch $ES_VERSION (set DOSSIER_ES_VERSION?)"
    [[ -f $ZIP ]] || die "Maven reported success but $ZIP is missing"
}

resolve_root() {
    # As root, the server user must reach .es/ through every parent folder. A checkout
    # in a private folder (mktemp -d is 0700) cannot give it that, so the server then
    # lives in /var/lib/dossier-es/<checkout hash> instead; the secure instance's CA is
    # still copied to .es/secure-ca.crt for the tests.
    [[ $(id -u) -eq 0 ]] || return 0
    ensure_user
    mkdir -p "$REPO/.es"
    if ! runuser -u "$ES_USER" -- test -x "$REPO/.es"; then
        ES_ROOT="/var/lib/dossier-es/$(printf '%s' "$REPO" | sha1sum | cut -c1-12)"
        ES_HOME="$ES_ROOT/elasticsearch-$ES_VERSION"
        mkdir -p "$ES_ROOT"
    fi
}

ensure_user() {
    [[ $(id -u) -eq 0 ]] || return 0
    if ! id "$ES_USER" >/dev/null 2>&1; then
        log "creating system user $ES_USER (Elasticsearch refuses to run as root)"
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$ES_USER"
    fi
}

install_distribution() {
    if [[ ! -x $ES_HOME/bin/elasticsearch ]]; then
        fetch_distribution
        mkdir -p "$ES_ROOT"
        log "unpacking into ${ES_HOME#"$REPO"/}"
        rm -rf "$ES_HOME.partial"
        mkdir -p "$ES_HOME.partial"
        unzip -q "$ZIP" -d "$ES_HOME.partial"
        mv "$ES_HOME.partial/elasticsearch-$ES_VERSION" "$ES_HOME"
        rmdir "$ES_HOME.partial"
    fi
    [[ -x $ES_JAVA_HOME/bin/java ]] || die "no Java at $ES_JAVA_HOME (Elasticsearch 9 needs Java 21+; set ES_JAVA_HOME)"
}

configure_node() {
    # Each instance has its own config, data, logs and keystore under .es/node-<name>/.
    local name=$1 port dir conf
    port=$(port_of "$name")
    dir=$(node_dir "$name")
    conf="$dir/config"
    mkdir -p "$dir/data" "$dir/logs" "$dir/tmp"
    if [[ ! -f $conf/jvm.options ]]; then
        rm -rf "$conf"
        cp -r "$ES_HOME/config" "$conf"
    fi
    local security=false
    [[ $name == secure ]] && security=true
    if [[ $(id -u) -eq 0 ]]; then
        chown -R "$ES_USER:" "$ES_ROOT"
    fi
    if [[ $security == true ]]; then
        make_certificates "$conf"
        publish_ca
    fi
    cat >"$conf/elasticsearch.yml" <<EOF
# Written by tests/es_server.sh; edits are overwritten at the next start.
cluster.name: dossier-test-$name
node.name: dossier-$name
discovery.type: single-node
network.host: 127.0.0.1
http.port: $port
transport.port: $((port + 100))
path.data: $dir/data
path.logs: $dir/logs
xpack.security.enabled: $security
xpack.security.http.ssl.enabled: $security
xpack.security.transport.ssl.enabled: false
# A nearly full disk must not turn the test indices read-only.
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: false
EOF
    if [[ $security == true ]]; then
        cat >>"$conf/elasticsearch.yml" <<EOF
xpack.security.http.ssl.key: certs/node.key
xpack.security.http.ssl.certificate: certs/node.crt
xpack.security.http.ssl.certificate_authorities: certs/ca.crt
EOF
    fi
    # The test distribution ships no ML module, so there is nothing to switch off for it.
    if [[ $(id -u) -eq 0 ]]; then
        chown -R "$ES_USER:" "$ES_ROOT"
        # The server user must reach the repository through its parents.
        runuser -u "$ES_USER" -- test -r "$ES_HOME/lib/elasticsearch-$ES_VERSION.jar" \
            || die "user $ES_USER cannot read $ES_HOME: make its parent folders traversable (chmod o+x)"
    fi
    if [[ $security == true ]]; then
        local keystore="$conf/elasticsearch.keystore"
        if [[ ! -f $keystore ]]; then
            as_es_user env ES_JAVA_HOME="$ES_JAVA_HOME" ES_PATH_CONF="$conf" \
                "$ES_HOME/bin/elasticsearch-keystore" create >/dev/null
        fi
        # bootstrap.password sets the `elastic` user's password until one is changed.
        printf '%s' "$ES_TEST_PASSWORD" | as_es_user env ES_JAVA_HOME="$ES_JAVA_HOME" \
            ES_PATH_CONF="$conf" "$ES_HOME/bin/elasticsearch-keystore" add -x -f bootstrap.password >/dev/null
        # A read-only user in the file realm (the test distribution cannot create the
        # .security index that native users and API keys need: it lacks analysis-common).
        cat >"$conf/roles.yml" <<EOF
dossier_reader:
  cluster: [monitor]
  indices:
    - names: ["dossier-*"]
      privileges: [read, view_index_metadata]
EOF
        if ! grep -q '^dossier_reader:' "$conf/users" 2>/dev/null; then
            as_es_user env ES_JAVA_HOME="$ES_JAVA_HOME" ES_PATH_CONF="$conf" \
                "$ES_HOME/bin/elasticsearch-users" useradd dossier_reader \
                -p "$ES_TEST_PASSWORD" -r dossier_reader >/dev/null
        fi
    fi
}

make_certificates() {
    # A test CA and a certificate for 127.0.0.1/localhost, made once with the
    # distribution's own elasticsearch-certutil.
    local conf=$1 certs="$1/certs"
    [[ -f $certs/node.crt && -f $certs/ca.crt ]] && return
    log "making a test CA and a TLS certificate for the secure instance"
    as_es_user mkdir -p "$certs"
    as_es_user env ES_JAVA_HOME="$ES_JAVA_HOME" ES_PATH_CONF="$conf" "$ES_HOME/bin/elasticsearch-certutil" \
        ca --pem --out "$certs/ca.zip" --silent >/dev/null
    as_es_user unzip -q -o "$certs/ca.zip" -d "$certs"
    as_es_user env ES_JAVA_HOME="$ES_JAVA_HOME" ES_PATH_CONF="$conf" "$ES_HOME/bin/elasticsearch-certutil" \
        cert --pem --ca-cert "$certs/ca/ca.crt" --ca-key "$certs/ca/ca.key" \
        --dns localhost --ip 127.0.0.1 --name node --out "$certs/node.zip" --silent >/dev/null
    as_es_user unzip -q -o "$certs/node.zip" -d "$certs"
    as_es_user cp "$certs/node/node.crt" "$certs/node/node.key" "$certs/"
    # ca.crt last: its presence means the set is complete.
    as_es_user cp "$certs/ca/ca.crt" "$certs/ca.crt"
    chmod a+r "$certs/ca.crt"
}

publish_ca() {
    mkdir -p "$REPO/.es"
    cp "$(node_dir secure)/config/certs/ca.crt" "$REPO/.es/secure-ca.crt"
}

health() {
    # Prints the cluster status (green/yellow/red) or nothing when the node does not answer.
    # The test distribution may lack `GET /`, so _cluster/health is the probe.
    local name=$1 port auth=() scheme=http
    port=$(port_of "$name")
    if [[ $name == secure ]]; then
        scheme=https
        auth=(-u "elastic:$ES_TEST_PASSWORD" --cacert "$(node_dir secure)/config/certs/ca.crt")
    fi
    curl -s --max-time 3 "${auth[@]}" "$scheme://127.0.0.1:$port/_cluster/health" 2>/dev/null \
        | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p'
}

running_pid() {
    local pf
    pf=$(pid_file "$1")
    [[ -f $pf ]] || return 1
    local pid
    pid=$(cat "$pf" 2>/dev/null) || return 1
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start_node() {
    local name=$1 port status
    port=$(port_of "$name")
    if running_pid "$name" >/dev/null && [[ -n $(health "$name") ]]; then
        log "$name already running on 127.0.0.1:$port"
        [[ $name != secure ]] || publish_ca
        return
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "port $port is taken by another server; set DOSSIER_ES_PORT / DOSSIER_ES_SECURE_PORT"
    fi
    ensure_user
    install_distribution
    configure_node "$name"
    local dir started=$SECONDS
    dir=$(node_dir "$name")
    rm -f "$(pid_file "$name")"
    log "starting $name (Elasticsearch $ES_VERSION) on 127.0.0.1:$port"
    # -d daemonizes and -p writes the pid file; the JVM's own temp files stay under .es/.
    if ! as_es_user env ES_JAVA_HOME="$ES_JAVA_HOME" ES_PATH_CONF="$dir/config" \
        ES_JAVA_OPTS="-Xms$ES_HEAP -Xmx$ES_HEAP" ES_TMPDIR="$dir/tmp" \
        "$ES_HOME/bin/elasticsearch" -d -p "$(pid_file "$name")" >"$dir/logs/start.out" 2>&1; then
        tail -n 30 "$dir/logs/start.out" >&2 || true
        die "Elasticsearch $name did not start; see ${dir#"$REPO"/}/logs/"
    fi
    while true; do
        status=$(health "$name")
        if [[ $status == green || $status == yellow ]]; then
            break
        fi
        if ! running_pid "$name" >/dev/null && ((SECONDS - started > 10)); then
            tail -n 30 "$dir/logs/dossier-test-$name.log" >&2 2>/dev/null || true
            die "Elasticsearch $name exited during start; see ${dir#"$REPO"/}/logs/"
        fi
        ((SECONDS - started < START_TIMEOUT)) || die "Elasticsearch $name not healthy after ${START_TIMEOUT}s"
        sleep 1
    done
    local scheme=http
    [[ $name == secure ]] && scheme=https
    log "$name ready on $scheme://127.0.0.1:$port (cluster $status) after $((SECONDS - started))s"
}

stop_node() {
    local name=$1 pid
    if ! pid=$(running_pid "$name"); then
        log "$name not running"
        rm -f "$(pid_file "$name")"
        return
    fi
    log "stopping $name (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name did not stop in 30s; killing pid $pid"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$(pid_file "$name")"
}

status_node() {
    local name=$1 pid status port
    port=$(port_of "$name")
    if pid=$(running_pid "$name"); then
        status=$(health "$name")
        local scheme=http
        [[ $name == secure ]] && scheme=https
        echo "$name: running (pid $pid) on $scheme://127.0.0.1:$port, cluster ${status:-not answering}"
    else
        echo "$name: stopped"
        return 1
    fi
}

main() {
    local cmd=${1:-} target=${2:-} names=()
    resolve_root
    case $target in
        main | secure | chaos) names=("$target") ;;
        all) if [[ $cmd == start ]]; then names=(main secure); else names=(main secure chaos); fi ;;
        "") if [[ $cmd == start ]]; then names=(main); else names=(main secure chaos); fi ;;
        *) die "unknown instance '$target' (main, secure, chaos or all)" ;;
    esac
    case $cmd in
        start) for n in "${names[@]}"; do start_node "$n"; done ;;
        stop) for n in "${names[@]}"; do stop_node "$n"; done ;;
        restart) for n in "${names[@]}"; do stop_node "$n"; start_node "$n"; done ;;
        status)
            local rc=0
            for n in "${names[@]}"; do status_node "$n" || rc=1; done
            # Exit 1 only when the one instance asked about is stopped.
            if [[ ${#names[@]} -eq 1 ]]; then return $rc; fi
            ;;
        *) die "usage: $0 start|stop|status|restart [main|secure|chaos|all]" ;;
    esac
}

main "$@"
