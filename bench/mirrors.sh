#!/usr/bin/env bash
# bench/mirrors.sh: benchmark of the mirror set. Measures, on this machine:
#   - import of a folder into one mirror and into four, each mirror a
#     `dvpc serve` on loopback (the issue's target: four take at most 1.3×
#     the time of one), and the same with folder mirrors;
#   - reading a large file while the mirrors that could be serving it stop
#     answering halfway (SIGSTOP), against reading it undisturbed;
#   - repairing a folder mirror that lost 10% of its objects
#     (`dvpc check --mirrors ... --repair`), against `cp` of those objects.
# Prints a Markdown report; with --write it puts it into docs/PERFORMANCE.md
# between the mirrors-bench markers.
set -euo pipefail
export LC_ALL=C

WRITE=0
for arg in "$@"; do
	case $arg in
	--write) WRITE=1 ;;
	-h | --help)
		cat <<'EOF'
usage: bench/mirrors.sh [--write]

environment:
  BENCH_DIR   work dir (default /tmp/dvpc-mirrors-bench)
  FILES_FROM  folder imported (default the corpus of bench/run.sh,
              /tmp/dvpc-bench/corpus, if it exists, else $(go env GOROOT))
  BIG         size of the file read with mirrors stopped (default 500000000)
  RUNS        repetitions (default 3); medians are reported
EOF
		exit 0 ;;
	*) echo "usage: bench/mirrors.sh [--write]" >&2; exit 2 ;;
	esac
done

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
WORK=${BENCH_DIR:-/tmp/dvpc-mirrors-bench}
FILES_FROM=${FILES_FROM:-}
if [[ -z $FILES_FROM ]]; then
	if [[ -d /tmp/dvpc-bench/corpus ]]; then FILES_FROM=/tmp/dvpc-bench/corpus; else FILES_FROM=$(go env GOROOT); fi
fi
BIG=${BIG:-500000000}
RUNS=${RUNS:-3}

mkdir -p "$WORK/bin"
(cd "$repo_root" && go build -o "$WORK/bin/dvpc" ./cmd/dvpc)
DVPC=$WORK/bin/dvpc
export DVPC_PASSPHRASE="bench passphrase" DVPC_TEST_CHEAP_KDF=1

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	pids=()
}
trap cleanup EXIT

wait_port() { # port
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "server on port $1 did not start" >&2
	return 1
}

# servers N: start N servers on ports 17841.., data under $WORK/srv<i>.
servers() {
	for i in $(seq "$1"); do
		rm -rf "$WORK/srv$i"
		"$DVPC" serve --listen "127.0.0.1:$((17840 + i))" --data "$WORK/srv$i" >"$WORK/srv$i.log" 2>&1 &
		pids+=($!)
	done
	for i in $(seq "$1"); do wait_port $((17840 + i)); done
}

now() { date +%s%N; }
secs() { awk "BEGIN{printf \"%.3f\", ($2-$1)/1e9}"; }

# setup_servers N HOME: a volume on N servers (signup on the first, mirror
# add of the others).
setup_servers() {
	local n=$1 home=$2
	rm -rf "$home"
	HOME=$home "$DVPC" signup http://127.0.0.1:17841 bench >/dev/null
	for i in $(seq 2 "$n"); do
		HOME=$home "$DVPC" mirror add "http://127.0.0.1:$((17840 + i))" --user bench >/dev/null
	done
}

# setup_dirs N HOME: a volume on N folders.
setup_dirs() {
	local n=$1 home=$2
	rm -rf "$home" "$WORK"/dir?
	HOME=$home "$DVPC" init "$WORK/dir1" >/dev/null
	for i in $(seq 2 "$n"); do
		HOME=$home "$DVPC" mirror add "$WORK/dir$i" >/dev/null
	done
}

# timed_import WHAT N: import FILES_FROM into the volume of $WORK/home,
# recording the time and the client's CPU.
timed_import() {
	sync
	t0=$(now)
	HOME=$WORK/home /usr/bin/time -f "%U %S" -o "$WORK/cpu" "$DVPC" import "$FILES_FROM" /src >/dev/null
	t1=$(now)
	echo "{\"what\":\"$1\",\"mirrors\":$2,\"seconds\":$(secs "$t0" "$t1"),\"client_cpu\":$(awk '{print $1+$2}' "$WORK/cpu")}" >>"$results"
}

results=$WORK/results.jsonl
: >"$results"
big=$WORK/big.bin
if [[ ! -f $big ]] || [[ $(stat -c %s "$big") != "$BIG" ]]; then
	head -c "$BIG" /dev/urandom >"$big"
fi
nbytes=$(du -sb "$FILES_FROM" | cut -f1)
for run in $(seq "$RUNS"); do
	# Import into 1 and 4 servers, in alternating order.
	for n in $( ((run % 2)) && echo "1 4" || echo "4 1"); do
		servers "$n"
		setup_servers "$n" "$WORK/home"
		timed_import import-http "$n"
		cleanup
	done
	for n in $( ((run % 2)) && echo "1 4" || echo "4 1"); do
		setup_dirs "$n" "$WORK/home"
		timed_import import-dir "$n"
	done

	# A large file read undisturbed, then with three of four servers
	# stopped halfway through (whichever was serving, one of them was).
	servers 4
	setup_servers 4 "$WORK/home"
	# Each read with a cache of its own, empty: a read fills the cache,
	# and the next would not ask the servers at all. A first read, not
	# timed, brings the servers' files into the page cache for both; both
	# timed reads go through cmp, which takes CPU of its own.
	HOME=$WORK/home "$DVPC" put "$big" /big.bin >/dev/null
	sync
	rm -rf "$WORK/cache0" "$WORK/cache1" "$WORK/cache2"
	HOME=$WORK/home XDG_CACHE_HOME=$WORK/cache0 "$DVPC" cat /big.bin >/dev/null
	t0=$(now)
	HOME=$WORK/home XDG_CACHE_HOME=$WORK/cache1 "$DVPC" cat /big.bin | cmp - "$big"
	t1=$(now)
	plain=$(secs "$t0" "$t1")
	half=$(awk "BEGIN{printf \"%.3f\", $plain/2}")
	t0=$(now)
	HOME=$WORK/home XDG_CACHE_HOME=$WORK/cache2 "$DVPC" cat /big.bin | cmp - "$big" &
	reader=$!
	sleep "$half"
	for p in "${pids[@]:0:3}"; do kill -STOP "$p"; done
	wait "$reader"
	t1=$(now)
	stopped=$(secs "$t0" "$t1")
	echo "{\"what\":\"read-stop\",\"plain\":$plain,\"stopped\":$stopped,\"bytes\":$BIG}" >>"$results"
	cleanup

	# Repair of a folder mirror that lost 10% of its objects, against a
	# plain copy of the same files (with a sync, as the repair's are durable).
	setup_dirs 2 "$WORK/home"
	HOME=$WORK/home "$DVPC" import "$FILES_FROM" /src >/dev/null
	HOME=$WORK/home "$DVPC" put "$big" /big.bin >/dev/null
	(cd "$WORK/dir2" && find . -type f | sort | awk 'NR % 10 == 0' >"$WORK/lost.txt")
	lost_bytes=$(cd "$WORK/dir2" && tr '\n' '\0' <"$WORK/lost.txt" | du -cb --files0-from=- | tail -1 | cut -f1)
	# Five rounds, alternating which goes first; medians are reported.
	for rep in 1 2 3 4 5; do
		copy_round() {
			rm -rf "$WORK/copy" && mkdir -p "$WORK/copy"
			sync
			t0=$(now)
			(cd "$WORK/dir2" && tr '\n' '\0' <"$WORK/lost.txt" | xargs -0 cp --parents -t "$WORK/copy" && sync -f "$WORK/copy")
			t1=$(now)
			cp_s=$(secs "$t0" "$t1")
		}
		repair_round() {
			(cd "$WORK/dir2" && tr '\n' '\0' <"$WORK/lost.txt" | xargs -0 rm -f)
			sync
			t0=$(now)
			"$DVPC" check --mirrors "$WORK/dir1,$WORK/dir2" --repair >/dev/null
			t1=$(now)
			rep_s=$(secs "$t0" "$t1")
		}
		if ((rep % 2)); then copy_round; repair_round; else repair_round; copy_round; fi
		echo "{\"what\":\"repair\",\"objects\":$(wc -l <"$WORK/lost.txt"),\"bytes\":$lost_bytes,\"repair\":$rep_s,\"cp\":$cp_s}" >>"$results"
	done
done

report=$(python3 - "$results" "$RUNS" "$FILES_FROM" "$nbytes" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
runs, src, nbytes = sys.argv[2], sys.argv[3], int(sys.argv[4])
med = lambda xs: statistics.median(xs) if xs else float('nan')
print(f"Mirror set, medians of {runs} runs; imports of {nbytes/1e6:.0f} MB ({src.split('/')[-1]}):\n")
print("| measure | one mirror | four mirrors | ratio (target) |")
print("|---|---|---|---|")
for kind, label in (("import-http", "`dvpc serve` mirrors on loopback"), ("import-dir", "folder mirrors")):
    one = med([r['seconds'] for r in rows if r['what'] == kind and r['mirrors'] == 1])
    four = med([r['seconds'] for r in rows if r['what'] == kind and r['mirrors'] == 4])
    print(f"| import time, {label} | {one:.2f} s | {four:.2f} s | {four/one:.2f}× (≤ 1.3×) |")
    one = med([r['client_cpu'] for r in rows if r['what'] == kind and r['mirrors'] == 1])
    four = med([r['client_cpu'] for r in rows if r['what'] == kind and r['mirrors'] == 4])
    print(f"| client CPU (user + sys), {label} | {one:.2f} s | {four:.2f} s | {four/one:.2f}× |")
r = [x for x in rows if x['what'] == 'read-stop']
if r:
    plain, stopped = med([x['plain'] for x in r]), med([x['stopped'] for x in r])
    mb = r[0]['bytes'] / 1e6
    print(f"\nReading a {mb:.0f} MB file from four servers, each read into an empty cache and through `cmp`: "
          f"{plain:.2f} s undisturbed ({mb/plain:.0f} MB/s); with three of them stopped (SIGSTOP) halfway through, {stopped:.2f} s: "
          f"the stop cost {stopped-plain:.2f} s (target: the read goes on within 1 s).")
r = [x for x in rows if x['what'] == 'repair']
if r:
    rep, cp = med([x['repair'] for x in r]), med([x['cp'] for x in r])
    mb = r[0]['bytes'] / 1e6
    print(f"\nRepair of a folder mirror that lost 10% of its objects ({r[0]['objects']} objects, {mb:.0f} MB): "
          f"`dvpc check --mirrors A,B --repair` {rep:.2f} s ({mb/rep:.0f} MB/s, listing and comparing both mirrors included); "
          f"`cp` of the same files plus `sync` {cp:.2f} s ({mb/cp:.0f} MB/s): {cp/rep:.2f}× the speed of the copy (target ≥ 1×).")
EOF
)
stamp="$(date -u +%Y-%m-%d), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg); command: RUNS=$RUNS bench/mirrors.sh"
echo "$report"
echo
echo "($stamp)"
if [[ $WRITE == 1 ]]; then
	python3 "$script_dir/perfdoc.py" "$repo_root/docs/PERFORMANCE.md" mirrors-bench "The mirror set" "$report" "$stamp"
fi
