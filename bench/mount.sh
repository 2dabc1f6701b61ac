#!/usr/bin/env bash
# bench/mount.sh: the drive against the peers' mounts, in one run: `ls -R`
# of the corpus (first and repeated) and reading its 500 MB file (with the
# page cache dropped first, then again) through `dvpc mount`, `restic
# mount`, `borg mount` and `rclone mount --vfs-cache-mode full`. Prints a
# Markdown report; with --write it puts it into docs/PERFORMANCE.md between
# the mount-bench markers. Needs root (FUSE, and dropping the page cache).
set -euo pipefail
export LC_ALL=C

WRITE=0
for arg in "$@"; do
	case $arg in
	--write) WRITE=1 ;;
	-h | --help)
		cat <<'EOF'
usage: bench/mount.sh [--write]

environment:
  BENCH_DIR   work dir (default /tmp/dvpc-mount-bench)
  CORPUS      the folder mounted (default /tmp/dvpc-bench/corpus, built by
              bench/run.sh; it must hold BIG_FILE)
  BIG_FILE    the large file read, relative to CORPUS (default big.tar)
  TOOLS       default "dvpc restic borg rclone"
  RUNS        repetitions (default 3); medians are reported
EOF
		exit 0 ;;
	*) echo "usage: bench/mount.sh [--write]" >&2; exit 2 ;;
	esac
done

if [[ $(id -u) != 0 ]]; then
	echo "bench/mount.sh needs root: it mounts FUSE file systems and drops the page cache" >&2
	exit 2
fi
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
WORK=${BENCH_DIR:-/tmp/dvpc-mount-bench}
CORPUS=${CORPUS:-/tmp/dvpc-bench/corpus}
BIG_FILE=${BIG_FILE:-big.tar}
TOOLS=${TOOLS:-dvpc restic borg rclone}
RUNS=${RUNS:-3}
if [[ ! -f $CORPUS/$BIG_FILE ]]; then
	echo "no corpus at $CORPUS (run bench/run.sh once to build it, or set CORPUS and BIG_FILE)" >&2
	exit 2
fi
missing=()
for t in restic borg rclone; do
	[[ " $TOOLS " == *" $t "* ]] && ! command -v "$t" >/dev/null && missing+=("$t")
done
if ((${#missing[@]})); then
	apt-get install -y "${missing[@]/borg/borgbackup}" fuse3 python3-llfuse >/dev/null
fi

mkdir -p "$WORK/bin"
(cd "$repo_root" && go build -o "$WORK/bin/dvpc" ./cmd/dvpc)
DVPC=$WORK/bin/dvpc
export DVPC_PASSPHRASE="bench passphrase" RESTIC_PASSWORD="bench passphrase" BORG_PASSPHRASE="bench passphrase"
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes HOME=$WORK/home
MNT=$WORK/mnt
mkdir -p "$MNT"
pids=()
cleanup() {
	umount -l "$MNT" 2>/dev/null || true
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	pids=()
}
trap cleanup EXIT

now() { date +%s%N; }
secs() { awk "BEGIN{printf \"%.3f\", ($2-$1)/1e9}"; }
wait_for() { # path
	for _ in $(seq 300); do [[ -e $1 ]] && return 0; sleep 0.1; done
	echo "the mount did not show $1 in 30 s" >&2
	return 1
}

# prepare TOOL: a repository of the corpus, made once per run.
prepare() {
	rm -rf "$WORK/repo" "$WORK/home"
	mkdir -p "$WORK/home"
	case $1 in
	dvpc)
		"$DVPC" init "$WORK/repo" >/dev/null
		"$DVPC" import "$CORPUS" / >/dev/null ;;
	restic)
		restic -q init -r "$WORK/repo" >/dev/null
		(cd "$CORPUS" && restic -q -r "$WORK/repo" backup . >/dev/null) ;;
	borg)
		borg init -e repokey "$WORK/repo" >/dev/null
		(cd "$CORPUS" && borg create "$WORK/repo::a" . >/dev/null) ;;
	rclone) ;;
	esac
}

# start TOOL: mount it at $MNT and print the folder that holds the corpus.
start() {
	case $1 in
	dvpc)
		"$DVPC" mount "$MNT" >"$WORK/mount.log" 2>&1 &
		pids+=($!)
		wait_for "$MNT/.dvpc"
		echo "$MNT" ;;
	restic)
		restic -q -r "$WORK/repo" mount "$MNT" >"$WORK/mount.log" 2>&1 &
		pids+=($!)
		wait_for "$MNT/snapshots/latest"
		echo "$MNT/snapshots/latest" ;;
	borg)
		borg mount "$WORK/repo::a" "$MNT" >"$WORK/mount.log" 2>&1
		wait_for "$MNT/$BIG_FILE"
		echo "$MNT" ;;
	rclone)
		rclone mount "$CORPUS" "$MNT" --vfs-cache-mode full --cache-dir "$WORK/rclone-cache" >"$WORK/mount.log" 2>&1 &
		pids+=($!)
		wait_for "$MNT/$BIG_FILE"
		echo "$MNT" ;;
	esac
}

results=$WORK/results.jsonl
: >"$results"
for run in $(seq "$RUNS"); do
	for tool in $TOOLS; do
		prepare "$tool"
		root=$(start "$tool")
		sync
		echo 3 >/proc/sys/vm/drop_caches
		t0=$(now); ls -R "$root" >"$WORK/ls.txt"; t1=$(now)
		ls1=$(secs "$t0" "$t1")
		t0=$(now); ls -R "$root" >/dev/null; t1=$(now)
		ls2=$(secs "$t0" "$t1")
		entries=$(wc -l <"$WORK/ls.txt")
		sync
		echo 3 >/proc/sys/vm/drop_caches
		t0=$(now); cat "$root/$BIG_FILE" >/dev/null; t1=$(now)
		cat1=$(secs "$t0" "$t1")
		t0=$(now); cat "$root/$BIG_FILE" >/dev/null; t1=$(now)
		cat2=$(secs "$t0" "$t1")
		cmp "$root/$BIG_FILE" "$CORPUS/$BIG_FILE"
		bytes=$(stat -c %s "$CORPUS/$BIG_FILE")
		echo "{\"tool\":\"$tool\",\"ls1\":$ls1,\"ls2\":$ls2,\"entries\":$entries,\"cat1\":$cat1,\"cat2\":$cat2,\"bytes\":$bytes}" >>"$results"
		case $tool in
		dvpc) "$DVPC" unmount "$MNT" ;;
		*) umount "$MNT" || umount -l "$MNT" ;;
		esac
		cleanup
	done
done

report=$(python3 - "$results" "$RUNS" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
runs = sys.argv[2]
med = lambda xs: statistics.median(xs) if xs else float('nan')
tools = []
for r in rows:
    if r['tool'] not in tools: tools.append(r['tool'])
mb = rows[0]['bytes'] / 1e6
print(f"Mounts of the corpus, medians of {runs} runs, page cache dropped before each first pass; {mb:.0f} MB file:\n")
print("| tool | `ls -R` first | `ls -R` again | read, first (MB/s) | read again (MB/s) |")
print("|---|---|---|---|---|")
for t in tools:
    rs = [r for r in rows if r['tool'] == t]
    print(f"| {t} | {med([r['ls1'] for r in rs]):.2f} s | {med([r['ls2'] for r in rs]):.2f} s | "
          f"{mb/med([r['cat1'] for r in rs]):.0f} | {mb/med([r['cat2'] for r in rs]):.0f} |")
d = [r for r in rows if r['tool'] == 'dvpc']
if d:
    print()
    for t in tools:
        if t == 'dvpc': continue
        rs = [r for r in rows if r['tool'] == t]
        print(f"- against {t}: `ls -R` first {med([r['ls1'] for r in d])/med([r['ls1'] for r in rs]):.2f}×, "
              f"again {med([r['ls2'] for r in d])/med([r['ls2'] for r in rs]):.2f}× (time); "
              f"first read {med([r['cat1'] for r in rs])/med([r['cat1'] for r in d]):.2f}× (speed)")
EOF
)
stamp="$(date -u +%Y-%m-%d), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg); command: RUNS=$RUNS bench/mount.sh"
echo "$report"
echo
echo "($stamp)"
if [[ $WRITE == 1 ]]; then
	python3 "$script_dir/perfdoc.py" "$repo_root/docs/PERFORMANCE.md" mount-bench "The drive" "$report" "$stamp"
fi
