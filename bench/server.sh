#!/usr/bin/env bash
# bench/server.sh: benchmark of `dvpc serve` against versitygw (an S3
# server) on the same machine and object sizes, plus the cost of clients
# waiting for notifications and the time from login on a new PC to a
# listing of a 15,000-file volume. Prints a Markdown report; with --write it
# puts it into docs/PERFORMANCE.md between the server-bench markers.
set -euo pipefail
export LC_ALL=C

WRITE=0
for arg in "$@"; do
	case $arg in
	--write) WRITE=1 ;;
	-h | --help)
		cat <<'EOF'
usage: bench/server.sh [--write]

environment:
  BENCH_DIR   work dir (default /tmp/dvpc-server-bench)
  DATA_DIR    where both servers keep objects (default $BENCH_DIR, on disk)
  SIZES       object sizes (default 64KiB,1MiB,16MiB)
  TOTAL       bytes written per size (default 268435456)
  WORKERS     parallel requests (default 8)
  RUNS        repetitions (default 3); medians are reported
  WATCHERS    waiting clients for the notification measurement (default 1000)
  FILES_FROM  folder imported for the login-to-listing measurement
              (default $(go env GOROOT): about 15,000 files, 270 MB)
EOF
		exit 0 ;;
	*) echo "usage: bench/server.sh [--write]" >&2; exit 2 ;;
	esac
done

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
WORK=${BENCH_DIR:-/tmp/dvpc-server-bench}
DATA=${DATA_DIR:-$WORK}
SIZES=${SIZES:-64KiB,1MiB,16MiB}
TOTAL=${TOTAL:-268435456}
WORKERS=${WORKERS:-8}
RUNS=${RUNS:-3}
WATCHERS=${WATCHERS:-1000}
FILES_FROM=${FILES_FROM:-$(go env GOROOT)}
VGW=${VERSITYGW:-$(go env GOPATH)/bin/versitygw}

mkdir -p "$WORK/bin"
if [[ ! -x $VGW ]]; then
	echo "building versitygw v1.8.0 ..." >&2
	GOBIN="$WORK/bin" go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
	VGW=$WORK/bin/versitygw
fi
(cd "$repo_root" && go build -o "$WORK/bin/dvpc" ./cmd/dvpc && go build -o "$WORK/bin/objbench" ./bench/objbench)
DVPC=$WORK/bin/dvpc
OBJ=$WORK/bin/objbench

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_port() { # host port
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "server on $1:$2 did not start" >&2
	return 1
}

export AWS_ACCESS_KEY_ID=benchaccess AWS_SECRET_ACCESS_KEY=benchsecretkey123
results=$WORK/results.jsonl
: >"$results"
for run in $(seq "$RUNS"); do
	rm -rf "$DATA/vgw" "$DATA/srv"
	mkdir -p "$DATA/vgw/bench"
	ROOT_ACCESS_KEY=$AWS_ACCESS_KEY_ID ROOT_SECRET_KEY=$AWS_SECRET_ACCESS_KEY \
		"$VGW" --port 127.0.0.1:17070 posix "$DATA/vgw" >"$WORK/vgw.log" 2>&1 &
	pids+=($!)
	"$DVPC" serve --listen 127.0.0.1:17832 --data "$DATA/srv" --max-watches-per-account "$WATCHERS" --max-watches "$WATCHERS" >"$WORK/srv.log" 2>&1 &
	srv=$!
	pids+=($srv)
	wait_port 127.0.0.1 17070
	wait_port 127.0.0.1 17832
	# Each target starts with the page cache flushed (`sync`): versitygw does
	# not fsync, so without it the other target's fsyncs would wait behind
	# the writeback of its dirty pages. The order alternates between runs.
	s3() { sync; "$OBJ" -target s3 -endpoint 127.0.0.1:17070 -bucket bench -sizes "$SIZES" -total "$TOTAL" -workers "$WORKERS" >>"$results"; }
	dv() { sync; "$OBJ" -target dvpc -url http://127.0.0.1:17832 -sizes "$SIZES" -total "$TOTAL" -workers "$WORKERS" >>"$results"; }
	if ((run % 2)); then s3; dv; else dv; s3; fi
	"$OBJ" -target dvpc -url http://127.0.0.1:17832 -watchers "$WATCHERS" -server-pid "$srv" >>"$results"
	# Login on a new PC to a listing of a 15,000-file volume.
	home1=$WORK/home1 home2=$WORK/home2
	rm -rf "$home1" "$home2"
	export DVPC_PASSPHRASE="bench passphrase"
	HOME=$home1 "$DVPC" signup http://127.0.0.1:17832 "lister$run" >/dev/null
	HOME=$home1 "$DVPC" import "$FILES_FROM" /src >/dev/null
	nfiles=$(HOME=$home1 "$DVPC" find / | wc -l)
	t0=$(date +%s%N)
	HOME=$home2 "$DVPC" login http://127.0.0.1:17832 "lister$run" >/dev/null
	HOME=$home2 "$DVPC" ls /src >/dev/null
	t1=$(date +%s%N)
	echo "{\"target\":\"login-ls\",\"paths\":$nfiles,\"seconds\":$(awk "BEGIN{print ($t1-$t0)/1e9}")}" >>"$results"
	cleanup
	pids=()
done

report=$(python3 - "$results" "$RUNS" "$WORKERS" "$TOTAL" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
runs, workers, total = sys.argv[2], sys.argv[3], int(sys.argv[4])
med = lambda xs: statistics.median(xs) if xs else float('nan')
print(f"Object throughput on loopback, {workers} parallel requests, {total>>20} MiB per size, medians of {runs} runs:\n")
print("| size | dvpc put MB/s | versitygw put MB/s | put ratio | dvpc get MB/s | versitygw get MB/s | get ratio |")
print("|---|---|---|---|---|---|---|")
sizes = []
for r in rows:
    if 'size' in r and r['size'] not in sizes: sizes.append(r['size'])
for s in sizes:
    d = [r for r in rows if r.get('size') == s and r['target'] == 'dvpc']
    v = [r for r in rows if r.get('size') == s and r['target'] == 's3']
    dp, vp = med([r['put_mb_s'] for r in d]), med([r['put_mb_s'] for r in v])
    dg, vg = med([r['get_mb_s'] for r in d]), med([r['get_mb_s'] for r in v])
    print(f"| {s} | {dp:.0f} | {vp:.0f} | {dp/vp:.2f}× | {dg:.0f} | {vg:.0f} | {dg/vg:.2f}× |")
w = [r for r in rows if 'watchers' in r]
if w:
    print(f"\n{w[0]['watchers']} clients waiting on one server: server memory {med([r['server_rss_before_mib'] for r in w]):.1f} MiB before, "
          f"{med([r['server_rss_waiting_mib'] for r in w]):.1f} MiB while they wait "
          f"({med([r['per_watcher_kib'] for r in w]):.1f} KiB each); one put reached all of them in "
          f"{med([r['notify_all_ms'] for r in w]):.0f} ms (median; worst run {max(r['notify_all_ms'] for r in w):.0f} ms).")
l = [r for r in rows if r['target'] == 'login-ls']
if l:
    print(f"\nLogin on a new PC to a listing of a {l[0]['paths']}-path volume: {med([r['seconds'] for r in l]):.2f} s (median; worst {max(r['seconds'] for r in l):.2f} s).")
EOF
)
stamp="$(date -u +%Y-%m-%d), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg); command: RUNS=$RUNS bench/server.sh"
echo "$report"
echo
echo "($stamp)"
if [[ $WRITE == 1 ]]; then
	python3 "$script_dir/perfdoc.py" "$repo_root/docs/PERFORMANCE.md" server-bench "The server" "$report" "$stamp"
fi
