#!/usr/bin/env bash
# bench/mount.sh: the drive against the peers' mounts, in one run: `ls -R`
# of the corpus (first and repeated) and reading its 500 MB file (with the
# page cache dropped first, then again, then again with the page cache
# dropped: from the tool's own cache) through `dvpc mount`, `restic
# mount`, `borg mount` and `rclone mount --vfs-cache-mode full`; then, in
# the writable mounts (dvpc and rclone), writing: the 500 MB file copied in
# twice (new data, then the same data again), 10,000 files of 100 bytes,
# and `git status` (first and repeated) in a clone of a repository. Prints
# a Markdown report; with --write it puts it into docs/PERFORMANCE.md
# between the mount-bench markers. Needs root (FUSE, and dropping the page
# cache).
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
  WRITES      1 (default): also time writing in the writable mounts (dvpc,
              rclone); 0: reading only
  GIT_SRC     the local git repository cloned into the mounts (default:
              the first one in CORPUS, else BENCH_DIR/git-src, made once
              from CORPUS/go/src)
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
WRITES=${WRITES:-1}
# What the write tests make, in a folder of its own at the mount's root.
# rclone writes through to CORPUS (its remote): removed after each run.
WDIR=dvpc-bench-write
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
# Built before HOME is moved below: go keeps its module and build caches.
(cd "$repo_root" && go build -o "$WORK/bin/dvpc" ./cmd/dvpc)
DVPC=$WORK/bin/dvpc

# The repository cloned by the git test: one in the corpus, else one made
# once from the corpus's Go sources, outside the mounts, and kept.
if [[ $WRITES == 1 && -z ${GIT_SRC:-} ]]; then
	GIT_SRC=$(find "$CORPUS" -maxdepth 4 -name .git -print -quit)
	GIT_SRC=${GIT_SRC%/.git}
fi
if [[ $WRITES == 1 && -z ${GIT_SRC:-} ]]; then
	GIT_SRC=$WORK/git-src
	if [[ ! -d $GIT_SRC/.git ]]; then
		from=$CORPUS/go/src
		[[ -d $from ]] || from=$CORPUS/go
		if [[ ! -d $from ]]; then
			echo "no git repository in $CORPUS and no $CORPUS/go to make one of: set GIT_SRC, or WRITES=0" >&2
			exit 2
		fi
		rm -rf "$GIT_SRC" "$GIT_SRC.tmp"
		cp -a "$from" "$GIT_SRC.tmp"
		(cd "$GIT_SRC.tmp" && export GIT_CONFIG_NOSYSTEM=1 HOME=$GIT_SRC.tmp \
			GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com GIT_AUTHOR_DATE=2026-01-01T00:00:00Z \
			GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com GIT_COMMITTER_DATE=2026-01-01T00:00:00Z &&
			git init -q -b main && git add -A && git commit -q -m "corpus: $from")
		mv "$GIT_SRC.tmp" "$GIT_SRC"
	fi
fi
if [[ $WRITES == 1 ]]; then
	git_files=$(git -c safe.directory='*' -C "$GIT_SRC" ls-files | wc -l)
fi
# Left by a run that was interrupted: it would show in rclone's `ls -R`.
rm -rf "${CORPUS:?}/$WDIR"
export DVPC_PASSPHRASE="bench passphrase" RESTIC_PASSWORD="bench passphrase" BORG_PASSPHRASE="bench passphrase"
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes HOME=$WORK/home
export GIT_CONFIG_NOSYSTEM=1
MNT=$WORK/mnt
mkdir -p "$MNT"
# The mount's process id, written by start (which runs in a subshell).
PIDFILE=$WORK/mount.pid
rm -f "$PIDFILE"
mountpid() { cat "$PIDFILE" 2>/dev/null || true; }
# wait_exit PID [SECONDS]: until the process ends (it is not our child).
wait_exit() {
	[[ -n $1 ]] || return 0
	for _ in $(seq $((${2:-120} * 10))); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}
cleanup() {
	umount -l "$MNT" 2>/dev/null || true
	local p
	p=$(mountpid)
	if [[ -n $p ]] && kill -0 "$p" 2>/dev/null; then
		kill "$p" 2>/dev/null || true
		wait_exit "$p" 30 || kill -9 "$p" 2>/dev/null || true
	fi
	rm -f "$PIDFILE"
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
		echo $! >"$PIDFILE"
		wait_for "$MNT/.dvpc"
		echo "$MNT" ;;
	restic)
		restic -q -r "$WORK/repo" mount "$MNT" >"$WORK/mount.log" 2>&1 &
		echo $! >"$PIDFILE"
		wait_for "$MNT/snapshots/latest"
		echo "$MNT/snapshots/latest" ;;
	borg)
		borg mount "$WORK/repo::a" "$MNT" >"$WORK/mount.log" 2>&1
		wait_for "$MNT/$BIG_FILE"
		echo "$MNT" ;;
	rclone)
		rclone mount "$CORPUS" "$MNT" --vfs-cache-mode full --cache-dir "$WORK/rclone-cache" >"$WORK/mount.log" 2>&1 &
		echo $! >"$PIDFILE"
		wait_for "$MNT/$BIG_FILE"
		echo "$MNT" ;;
	esac
}

# settle PID: wait until the mount's process has finished the work a
# write leaves it in the background, so that it does not slow the next
# test: rclone uploads a file 5 s after its close (--vfs-write-back), dvpc
# flushes its stage to the mirror. At least 6 s, then until the process
# used under 50 ms of CPU in each of 2 seconds (at most 3 minutes); then a
# sync, for the page cache's writeback.
cputicks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null; }
settle() {
	local prev cur idle=0
	# borg mount leaves no process of ours to watch, and nothing behind.
	[[ -n $1 ]] || { sync; return 0; }
	sleep 6
	prev=$(cputicks "$1") || { sync; return 0; }
	for _ in $(seq 180); do
		sleep 1
		cur=$(cputicks "$1") || break
		if ((cur - prev < 5)); then
			idle=$((idle + 1))
			((idle < 2)) || break
		else
			idle=0
		fi
		prev=$cur
	done
	sync
}

# writes TOOL ROOT: the write tests in ROOT/$WDIR; sets w to their JSON
# fields. Not in a subshell, so that set -e ends the run on a failure.
writes() {
	local dir=$2/$WDIR pid t0 t1 w1 s1 w2 s2 small clone gst1 gst2 dirty
	pid=$(mountpid)
	settle "$pid" # the reads' background work (dvpc fills its cache)
	mkdir "$dir"
	# 1. The large file, new data (FRESH: no tool has seen its chunks;
	# dvpc would find BIG_FILE's in the volume): the source in the page
	# cache, so that the copy times the mount. `sync FILE` is an fsync,
	# which a FUSE file system gets (FSYNC); `sync -f` (syncfs) never
	# reaches it.
	echo 3 >/proc/sys/vm/drop_caches
	cat "$FRESH" >/dev/null
	t0=$(now); dd if="$FRESH" of="$dir/big1" bs=1M status=none; t1=$(now)
	w1=$(secs "$t0" "$t1")
	t0=$(now); sync "$dir/big1"; t1=$(now)
	s1=$(secs "$t0" "$t1")
	settle "$pid"
	# 2. The same data again, under another name.
	cat "$FRESH" >/dev/null
	t0=$(now); dd if="$FRESH" of="$dir/big2" bs=1M status=none; t1=$(now)
	w2=$(secs "$t0" "$t1")
	t0=$(now); sync "$dir/big2"; t1=$(now)
	s2=$(secs "$t0" "$t1")
	settle "$pid"
	# 3. 10,000 files of 100 bytes, each its own content, in a new folder,
	# by one process.
	small=$(python3 - "$dir/small" <<'PY'
import os, sys, time
d = sys.argv[1]
t = time.perf_counter()
os.mkdir(d)
for i in range(10000):
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(b"file %05d " % i + b"x" * 88 + b"\n")
print("%.3f" % (time.perf_counter() - t))
PY
)
	settle "$pid"
	# 4. git: a clone, then `git status` with the page cache dropped, and
	# again.
	t0=$(now); git -c safe.directory='*' clone -q --no-hardlinks "$GIT_SRC" "$dir/repo"; t1=$(now)
	clone=$(secs "$t0" "$t1")
	settle "$pid"
	echo 3 >/proc/sys/vm/drop_caches
	t0=$(now); git -c safe.directory='*' -C "$dir/repo" status --porcelain >"$WORK/git-status.txt"; t1=$(now)
	gst1=$(secs "$t0" "$t1")
	t0=$(now); git -c safe.directory='*' -C "$dir/repo" status --porcelain >/dev/null; t1=$(now)
	gst2=$(secs "$t0" "$t1")
	dirty=$(wc -l <"$WORK/git-status.txt")
	# Checked, untimed: what was written reads back.
	cmp "$dir/big1" "$FRESH"
	cmp "$dir/big2" "$FRESH"
	if [[ $(ls "$dir/small" | wc -l) != 10000 ]]; then
		echo "$1: $(ls "$dir/small" | wc -l) small files in the mount, not 10000" >&2
		exit 1
	fi
	w=",\"w1\":$w1,\"s1\":$s1,\"w2\":$w2,\"s2\":$s2,\"small\":$small,\"clone\":$clone,\"gst1\":$gst1,\"gst2\":$gst2,\"git_files\":$git_files,\"git_dirty\":$dirty"
}

# FRESH: BIG_FILE with the first 16 bytes of each 4 KiB block replaced
# by its number: as compressible, and no chunk of it is one of BIG_FILE's.
FRESH=$WORK/fresh.bin
if [[ $WRITES == 1 && ! -s $FRESH ]]; then
	python3 - "$CORPUS/$BIG_FILE" "$FRESH.tmp" <<'PY'
import sys
src, dst = sys.argv[1], sys.argv[2]
with open(src, "rb") as r, open(dst, "wb") as w:
    n = 0
    while True:
        b = bytearray(r.read(1 << 20))
        if not b:
            break
        for o in range(0, len(b), 4096):
            b[o:o + 16] = (b"fresh %010d" % n)[:len(b) - o]
            n += 1
        w.write(b)
PY
	mv "$FRESH.tmp" "$FRESH"
fi

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
		# Read a third time with the page cache dropped: what the tool
		# keeps of its own (dvpc's cache, rclone's VFS cache) and not
		# the kernel; once the work the reads left it in the background
		# is done (dvpc rewrites what it cached uncompressed).
		settle "$(mountpid)"
		echo 3 >/proc/sys/vm/drop_caches
		t0=$(now); cat "$root/$BIG_FILE" >/dev/null; t1=$(now)
		cat3=$(secs "$t0" "$t1")
		cmp "$root/$BIG_FILE" "$CORPUS/$BIG_FILE"
		bytes=$(stat -c %s "$CORPUS/$BIG_FILE")
		w=
		if [[ $WRITES == 1 && ($tool == dvpc || $tool == rclone) ]]; then
			writes "$tool" "$root"
		fi
		echo "{\"tool\":\"$tool\",\"ls1\":$ls1,\"ls2\":$ls2,\"entries\":$entries,\"cat1\":$cat1,\"cat2\":$cat2,\"cat3\":$cat3,\"bytes\":$bytes$w}" >>"$results"
		pid=$(mountpid)
		case $tool in
		dvpc) "$DVPC" unmount "$MNT" ;;
		*) umount "$MNT" || umount -l "$MNT" ;;
		esac
		# dvpc sends what is left to its mirror before it exits: let it
		# finish before the next tool starts.
		wait_exit "$pid" 120 || echo "the $tool mount's process did not end in 120 s" >&2
		cleanup
		if [[ $tool == rclone ]]; then
			# rclone wrote the tests' files through to the corpus.
			rm -rf "${CORPUS:?}/$WDIR"
			find "$WORK/rclone-cache" -depth -name "$WDIR" -exec rm -rf {} +
		fi
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
print("| tool | `ls -R` first | `ls -R` again | read, first (MB/s) | read again (MB/s) | read again, page cache dropped (MB/s) |")
print("|---|---|---|---|---|---|")
for t in tools:
    rs = [r for r in rows if r['tool'] == t]
    print(f"| {t} | {med([r['ls1'] for r in rs]):.2f} s | {med([r['ls2'] for r in rs]):.2f} s | "
          f"{mb/med([r['cat1'] for r in rs]):.0f} | {mb/med([r['cat2'] for r in rs]):.0f} | "
          f"{mb/med([r.get('cat3', float('nan')) for r in rs]):.0f} |")
d = [r for r in rows if r['tool'] == 'dvpc']
if d:
    print()
    for t in tools:
        if t == 'dvpc': continue
        rs = [r for r in rows if r['tool'] == t]
        print(f"- against {t}: `ls -R` first {med([r['ls1'] for r in d])/med([r['ls1'] for r in rs]):.2f}×, "
              f"again {med([r['ls2'] for r in d])/med([r['ls2'] for r in rs]):.2f}× (time); "
              f"first read {med([r['cat1'] for r in rs])/med([r['cat1'] for r in d]):.2f}×, "
              f"from its cache {med([r['cat3'] for r in rs])/med([r['cat3'] for r in d]):.2f}× (speed)")
writers = [t for t in tools if any('w1' in r for r in rows if r['tool'] == t)]
if writers:
    def val(t, f):
        return med([f(r) for r in rows if r['tool'] == t and 'w1' in r])
    secs = lambda x: f"{x:.3f} s" if x < 0.1 else f"{x:.2f} s"
    files = max(r['git_files'] for r in rows if 'w1' in r)
    lines = [
        (f"`dd` of the {mb:.0f} MB file in (MB/s)", lambda t: mb / val(t, lambda r: r['w1']), "{:.0f}"),
        ("the same, then `sync FILE` (MB/s)", lambda t: mb / val(t, lambda r: r['w1'] + r['s1']), "{:.0f}"),
        ("the same data again, another name (MB/s)", lambda t: mb / val(t, lambda r: r['w2']), "{:.0f}"),
        ("the same, then `sync FILE` (MB/s)", lambda t: mb / val(t, lambda r: r['w2'] + r['s2']), "{:.0f}"),
        ("10,000 files of 100 bytes, new folder", lambda t: val(t, lambda r: r['small']), secs),
        (f"`git clone --no-hardlinks` of {files:,} files", lambda t: val(t, lambda r: r['clone']), secs),
        ("`git status` in it, first", lambda t: val(t, lambda r: r['gst1']), secs),
        ("`git status` again", lambda t: val(t, lambda r: r['gst2']), secs),
    ]
    both = 'dvpc' in writers and 'rclone' in writers
    print(f"\nWriting through the mount, medians of {runs} runs (restic and borg mount read-only); "
          "each test starts once the mount's background work of the previous one is done:\n")
    print("| | " + " | ".join(writers) + (" | dvpc/rclone |" if both else " |"))
    print("|---|" + "---|" * (len(writers) + both))
    for name, f, fmt in lines:
        v = {t: f(t) for t in writers}
        show = fmt.format if isinstance(fmt, str) else fmt
        print(f"| {name} | " + " | ".join(show(v[t]) for t in writers) +
              (f" | {v['dvpc'] / v['rclone']:.2f}× |" if both else " |"))
    if both:
        print("\nThe ratio is dvpc/rclone: above 1 is better for MB/s, below 1 for times.")
    for t in writers:
        n = max(r['git_dirty'] for r in rows if r['tool'] == t and 'w1' in r)
        if n:
            print(f"\n- {t}: `git status` of the fresh clone listed {n} paths (it should list none)")
EOF
)
stamp="$(date -u +%Y-%m-%d), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg); command: RUNS=$RUNS bench/mount.sh"
echo "$report"
echo
echo "($stamp)"
if [[ $WRITE == 1 ]]; then
	python3 "$script_dir/perfdoc.py" "$repo_root/docs/PERFORMANCE.md" mount-bench "The drive" "$report" "$stamp"
fi
