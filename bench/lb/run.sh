#!/usr/bin/env bash
# hafs-lb vs HAProxy on the same machine, same nginx backends, same clients, same run.
#   bench/lb/run.sh [path/to/hafs-lb]      (env: DURATION=10 CONNS=50 AB_N=20000 AB_C=20, REPEAT=3,
#                                           ONLY=<regex over client/page/target> to run a subset)
# For each target (nginx direct, HAProxy tcp/http, hafs-lb tcp/http) and each page
# (300-byte page, 200 KiB file): wrk with keep-alive and ab without; prints req/s, p50,
# p99 and the ratio to HAProxy in the same mode. Targets are run interleaved REPEAT
# times and the median of each figure is printed (a shared 2-core box is noisy). Uses its own configs and ports on
# 127.0.0.1 only; processes are stopped by PID on exit. Not run by CI.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
lb_bin=${1:-${HAFS_BIN_DIR:-$top/build/bin}/hafs-lb}
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
AB_N=${AB_N:-20000}
AB_C=${AB_C:-20}
REPEAT=${REPEAT:-3}
for tool in nginx haproxy wrk ab; do
  command -v $tool >/dev/null || { echo "missing $tool: run tools/install-deps (tools/deps/lb.txt)" >&2; exit 1; }
done
[ -x "$lb_bin" ] || { echo "hafs-lb not found at $lb_bin (build it or pass its path)" >&2; exit 1; }

work=$(mktemp -d /tmp/hafs-lb-bench.XXXXXX)
chmod 755 "$work"  # nginx workers run unprivileged and must read the docroot
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  sleep 0.5
  rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT TERM

B=(28081 28082 28083)
HA_TCP=28100 HA_HTTP=28101 LB_TCP=28200 LB_HTTP=28201

# --- backends: one nginx, one worker per core, three ports (like three web servers) ---
mkdir -p "$work/www" "$work/nginx"
head -c 300 /dev/zero | tr '\0' 'p' > "$work/www/page.html"
head -c $((200 * 1024)) /dev/urandom > "$work/www/file.bin"
chmod -R a+rX "$work/www"
curl_check() { curl -sf -o /dev/null "http://127.0.0.1:$1$2" || { echo "GET :$1$2 failed" >&2; exit 1; }; }
cat > "$work/nginx.conf" <<NGX
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  types { text/html html; application/octet-stream bin; }
  server { listen 127.0.0.1:${B[0]}; root $work/www; }
  server { listen 127.0.0.1:${B[1]}; root $work/www; }
  server { listen 127.0.0.1:${B[2]}; root $work/www; }
}
NGX
nginx -c "$work/nginx.conf" -p "$work/nginx" -e "$work/nginx/error.log"

# --- the same configuration for both balancers (HAProxy syntax) ---
write_cfg() {  # $1 tcp port, $2 http port, $3 file
  cat > "$3" <<CFG
defaults
    mode http
    timeout connect 5000
    timeout client 30000
    timeout server 30000
frontend web-http
    bind 127.0.0.1:$2
    option forwardfor
    default_backend http-servers
frontend web-tcp
    mode tcp
    bind 127.0.0.1:$1
    default_backend tcp-servers
backend http-servers
    balance roundrobin
    server web1 127.0.0.1:${B[0]}
    server web2 127.0.0.1:${B[1]}
    server web3 127.0.0.1:${B[2]}
backend tcp-servers
    mode tcp
    balance roundrobin
    server web1 127.0.0.1:${B[0]}
    server web2 127.0.0.1:${B[1]}
    server web3 127.0.0.1:${B[2]}
CFG
}
write_cfg $HA_TCP $HA_HTTP "$work/haproxy.cfg"
write_cfg $LB_TCP $LB_HTTP "$work/hafs-lb.cfg"
haproxy -f "$work/haproxy.cfg" -db > "$work/haproxy.log" 2>&1 &
pids+=($!)
"$lb_bin" -f "$work/hafs-lb.cfg" --log-level warn > "$work/hafs-lb.log" 2>&1 &
pids+=($!)

wait_port() {
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done
  echo "port $1 did not open" >&2; exit 1
}
for p in "${B[@]}" $HA_TCP $HA_HTTP $LB_TCP $LB_HTTP; do wait_port $p; curl_check $p /page.html; curl_check $p /file.bin; done
echo "versions: $(haproxy -v | head -1) | $(nginx -v 2>&1) | wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}') | cores $(nproc)"

to_ms() {  # wrk latency "1.23ms" / "850.00us" / "1.01s" -> ms
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}

declare -A RPS P50 P99
run_wrk() {  # key port path
  local out
  timeout 30 wrk -t2 -c"$CONNS" -d1s "http://127.0.0.1:$2$3" > /dev/null 2>&1 || true  # warm-up
  out=$(timeout $((DURATION + 30)) wrk -t2 -c"$CONNS" -d"${DURATION}s" --timeout 10s --latency "http://127.0.0.1:$2$3")
  RPS[$1]+=" $(awk '/^Requests\/sec/ {print $2}' <<< "$out")"
  P50[$1]+=" $(to_ms "$(awk '$1 == "50%" {print $2}' <<< "$out")")"
  P99[$1]+=" $(to_ms "$(awk '$1 == "99%" {print $2}' <<< "$out")")"
  if grep -q "Non-2xx\|Socket errors" <<< "$out"; then echo "  note ($1): $(grep -E 'Non-2xx|Socket errors' <<< "$out" | tr '\n' ' ')"; fi
}
run_ab() {  # key port path
  local out
  out=$(timeout 300 ab -q -s 10 -n "$AB_N" -c "$AB_C" "http://127.0.0.1:$2$3" 2>&1 || true)
  RPS[$1]+=" $(awk '/^Requests per second/ {print $4}' <<< "$out")"
  P50[$1]+=" $(awk '$1 == "50%" {print $2}' <<< "$out")"
  P99[$1]+=" $(awk '$1 == "99%" {print $2}' <<< "$out")"
  local failed
  failed=$(awk '/^Failed requests/ {print $3}' <<< "$out")
  [ "${failed:-0}" = 0 ] || echo "  note ($1): $failed failed requests"
  if grep -q "Non-2xx" <<< "$out"; then echo "  note ($1): $(grep Non-2xx <<< "$out")"; fi
}

targets=("direct:${B[0]}" "haproxy-tcp:$HA_TCP" "haproxy-http:$HA_HTTP" "hafs-lb-tcp:$LB_TCP" "hafs-lb-http:$LB_HTTP")
pages=("300B:/page.html" "200KiB:/file.bin")
median() { tr ' ' '\n' <<< "$1" | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
for round in $(seq "$REPEAT"); do
for client in wrk ab; do
  for page in "${pages[@]}"; do
    pname=${page%%:*} path=${page#*:}
    for t in "${targets[@]}"; do
      name=${t%%:*} port=${t#*:}
      key="$client/$pname/$name"
      [[ $key =~ ${ONLY:-.} ]] || continue
      echo "  running $key (round $round)" >&2
      if [ $client = wrk ]; then run_wrk "$key" "$port" "$path"; else run_ab "$key" "$port" "$path"; fi
    done
  done
done
done
for key in "${!RPS[@]}"; do
  RPS[$key]=$(median "${RPS[$key]}") P50[$key]=$(median "${P50[$key]}") P99[$key]=$(median "${P99[$key]}")
done

echo; echo "median of $REPEAT interleaved runs; wrk: ${DURATION}s, $CONNS connections, keep-alive; ab: -n $AB_N -c $AB_C, no keep-alive"
printf "%-4s %-7s %-13s %12s %9s %9s %13s %12s\n" client page target "req/s" "p50 ms" "p99 ms" "req/s vs HA" "p99 vs HA"
for client in wrk ab; do
  for page in "${pages[@]}"; do
    pname=${page%%:*}
    for t in "${targets[@]}"; do
      name=${t%%:*}
      key="$client/$pname/$name"
      [[ $key =~ ${ONLY:-.} ]] || continue
      ratio="" pratio=""
      case $name in
        hafs-lb-*) ha="$client/$pname/haproxy-${name#hafs-lb-}"
                   ratio=$(awk -v a="${RPS[$key]}" -v b="${RPS[$ha]}" 'BEGIN { if (b > 0) printf "%.2f", a / b }')
                   pratio=$(awk -v a="${P99[$key]}" -v b="${P99[$ha]}" 'BEGIN { if (b > 0) printf "%.2f", a / b }') ;;
      esac
      printf "%-4s %-7s %-13s %12s %9s %9s %13s %12s\n" $client $pname $name "${RPS[$key]}" "${P50[$key]}" "${P99[$key]}" "$ratio" "$pratio"
    done
  done
done
echo
echo "req/s vs HA > 1 and p99 vs HA <= 1 meet the target (hafs-lb at least as fast as HAProxy)."
