#!/usr/bin/env bash
# A throwaway clickhouse-server on loopback, for tests and local trials of the ClickHouse store.
#   scripts/clickhouse.sh start DIR PORT   data, logs and pid under DIR; HTTP on PORT, native on
#                                          PORT+1, interserver on PORT+2; waits until it answers
#   scripts/clickhouse.sh stop DIR         stops the server started with DIR (SIGTERM, then KILL)
# Uses Debian's package (clickhouse-server, installed by scripts/setup.sh) and its stock config;
# every path and port is overridden on the command line, so nothing under /var or /etc is written.
set -euo pipefail

usage() { echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2; }
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || usage

case "$cmd" in
  start)
    port=${3:-}; [ -n "$port" ] || usage
    bin=$(command -v clickhouse-server || true)
    [ -x /usr/sbin/clickhouse-server ] && bin=/usr/sbin/clickhouse-server
    if [ -z "$bin" ]; then
      echo "clickhouse.sh: clickhouse-server is not installed (apt-get install clickhouse-server; scripts/setup.sh does it)" >&2
      exit 1
    fi
    mkdir -p "$dir"/data "$dir"/tmp "$dir"/uf "$dir"/fs
    dir=$(cd "$dir" && pwd)
    "$bin" --config-file=/etc/clickhouse-server/config.xml -- \
      --path="$dir/data/" --tmp_path="$dir/tmp/" --user_files_path="$dir/uf/" \
      --format_schema_path="$dir/fs/" --http_port="$port" --tcp_port=$((port + 1)) \
      --interserver_http_port=$((port + 2)) --listen_host=127.0.0.1 \
      --logger.log="$dir/log" --logger.errorlog="$dir/err" >"$dir/stdout" 2>&1 &
    echo $! >"$dir/pid"
    for _ in $(seq 1 300); do
      if curl -sf "http://127.0.0.1:$port/ping" >/dev/null 2>&1; then exit 0; fi
      if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
        echo "clickhouse.sh: clickhouse-server exited; see $dir/err" >&2
        tail -n 20 "$dir/err" "$dir/stdout" >&2 2>/dev/null || true
        exit 1
      fi
      sleep 0.1
    done
    echo "clickhouse.sh: clickhouse-server did not answer on port $port within 30 s" >&2
    exit 1 ;;
  stop)
    [ -f "$dir/pid" ] || exit 0
    pid=$(cat "$dir/pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || { rm -f "$dir/pid"; exit 0; }
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$dir/pid" ;;
  *) usage ;;
esac
