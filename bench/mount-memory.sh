#!/usr/bin/env bash
# bench/mount-memory.sh: the drive on a volume of a million files. Builds
# a tree of FILES small files (made once and kept), imports it into a
# folder mirror, mounts it and records the `dvpc mount` process's memory
# (VmRSS, and VmHWM, its peak) after the mount, after `ls -R`, after
# reading 10,000 files and after reading 100,000 more; times a small
# save (write, fsync) in the mounted volume; then, on a PC that has never
# seen the volume (another HOME), times `dvpc login`, the mount until it
# answers, and the first `ls -R` of the whole tree. Prints a Markdown
# report; with --write it puts it into docs/PERFORMANCE.md between the
# mount-memory markers. Needs root (FUSE).
set -euo pipefail
export LC_ALL=C

WRITE=0
for arg in "$@"; do
	case $arg in
	--write) WRITE=1 ;;
	-h | --help)
		cat <<'EOF'
usage: bench/mount-memory.sh [--write]

environment:
  BENCH_DIR   work dir (default /tmp/dvpc-memory-bench); the tree is made
              once in BENCH_DIR/tree-FILES and kept
  FILES       files in the tree (default 1000000), 1,000 to a folder
EOF
		exit 0 ;;
	*) echo "usage: bench/mount-memory.sh [--write]" >&2; exit 2 ;;
	esac
done

if [[ $(id -u) != 0 ]]; then
	echo "bench/mount-memory.sh needs root: it mounts a FUSE file system" >&2
	exit 2
fi
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
WORK=${BENCH_DIR:-/tmp/dvpc-memory-bench}
FILES=${FILES:-1000000}
if ((FILES < 120000)); then
	echo "FILES must be at least 120000: the bench reads 110,000 of them" >&2
	exit 2
fi
for t in python3; do
	command -v "$t" >/dev/null || { echo "bench/mount-memory.sh needs $t" >&2; exit 2; }
done
[[ -x /usr/bin/time ]] || apt-get install -y time >/dev/null

mkdir -p "$WORK/bin"
# Built before HOME is moved below: go keeps its module and build caches.
(cd "$repo_root" && go build -o "$WORK/bin/dvpc" ./cmd/dvpc)
DVPC=$WORK/bin/dvpc

# The tree: FILES files of 60 to 300 bytes, each different, 1,000 to a
# folder, in folders of 100 folders (a/0000/f000000.txt).
TREE=$WORK/tree-$FILES
if [[ ! -f $TREE/.done ]]; then
	rm -rf "$TREE"
	echo "making $FILES files in $TREE" >&2
	python3 - "$TREE" "$FILES" <<'EOF'
import os, sys, random
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(1)
words = "alpha beta gamma delta drive mirror volume chunk pack journal cache mount".split()
for i in range(n):
    d = os.path.join(root, "a%02d" % (i // 100000), "%04d" % (i // 1000))
    if i % 1000 == 0:
        os.makedirs(d)
    body = ("file %d: " % i + " ".join(rng.choice(words) for _ in range(rng.randrange(8, 50))) + "\n").encode()
    fd = os.open(os.path.join(d, "f%06d.txt" % i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, body)
    os.close(fd)
open(os.path.join(root, ".done"), "w").close()
EOF
fi
entries=$(find "$TREE" -mindepth 1 -not -name .done | wc -l)

export DVPC_PASSPHRASE="bench passphrase"
MNT=$WORK/mnt
REPO=$WORK/repo
mkdir -p "$MNT"
PID=
cleanup() {
	umount -l "$MNT" 2>/dev/null || true
	if [[ -n $PID ]] && kill -0 "$PID" 2>/dev/null; then
		kill "$PID" 2>/dev/null || true
		for _ in $(seq 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$PID" 2>/dev/null || true
	fi
}
trap cleanup EXIT

now() { date +%s%N; }
secs() { awk "BEGIN{printf \"%.2f\", ($2-$1)/1e9}"; }
# mem FIELD: the mount process's VmRSS or VmHWM, in MB.
mem() { awk -v f="$1:" '$1 == f {printf "%.0f", $2 * 1024 / 1e6}' "/proc/$PID/status"; }
# mount_wait: start `dvpc mount` and wait until it answers; sets PID and
# took (the seconds it took).
mount_wait() {
	local t0 t1
	t0=$(now)
	"$DVPC" mount "$MNT" >>"$WORK/mount.log" 2>&1 &
	PID=$!
	for _ in $(seq 1200); do
		[[ -e $MNT/.dvpc ]] && break
		kill -0 "$PID" 2>/dev/null || { echo "dvpc mount ended; see $WORK/mount.log" >&2; tail "$WORK/mount.log" >&2; exit 1; }
		sleep 0.05
	done
	[[ -e $MNT/.dvpc ]] || { echo "the mount did not answer in 60 s" >&2; exit 1; }
	t1=$(now)
	took=$(secs "$t0" "$t1")
}
unmount() {
	"$DVPC" unmount "$MNT" >/dev/null
	for _ in $(seq 600); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
	PID=
}

# 1. The first PC: import, with its peak memory.
rm -rf "$REPO" "$WORK/home" "$WORK/home2" "$WORK/mount.log"
mkdir -p "$WORK/home" "$WORK/home2"
export HOME=$WORK/home
"$DVPC" init "$REPO" >/dev/null
t0=$(now)
/usr/bin/time -f %M -o "$WORK/import.mem" "$DVPC" import "$TREE" / >/dev/null
t1=$(now)
import_s=$(secs "$t0" "$t1")
import_mb=$(awk '{printf "%.0f", $1 * 1024 / 1e6}' "$WORK/import.mem")
mirror_mb=$(du -sm "$REPO" | cut -f1)
echo "imported $entries entries in $import_s s" >&2

# 2. Mounted: memory after each step.
mount_wait
mount1_s=$took
rss0=$(mem VmRSS)
t0=$(now); ls -R "$MNT" >/dev/null; t1=$(now)
lsr1_s=$(secs "$t0" "$t1")
rss1=$(mem VmRSS)
t0=$(now); ls -R "$MNT" >/dev/null; t1=$(now)
lsr2_s=$(secs "$t0" "$t1")
# 10,000 files (the folders a00/0000 to a00/0009), then 100,000 more (a00/0010 to a00/0099 and a01/0100 to a01/0119)
t0=$(now)
find "$MNT"/a00/000? -type f -print0 | xargs -0 cat >/dev/null
t1=$(now)
read10k_s=$(secs "$t0" "$t1")
rss2=$(mem VmRSS)
t0=$(now)
find "$MNT"/a00/00[1-9]? "$MNT"/a01/01[01]? -type f -print0 | xargs -0 cat >/dev/null
t1=$(now)
read100k_s=$(secs "$t0" "$t1")
rss3=$(mem VmRSS)
# A small save: a new file written and fsynced, five times.
saves=()
for i in 1 2 3 4 5; do
	t0=$(now)
	echo "save $i" >"$MNT/saved-$i.txt"
	sync "$MNT/saved-$i.txt"
	t1=$(now)
	saves+=("$(secs "$t0" "$t1")")
done
save_s=$(printf '%s\n' "${saves[@]}" | sort -n | sed -n 3p)
hwm=$(mem VmHWM)
unmount

# 3. A PC that has never seen the volume.
export HOME=$WORK/home2
t0=$(now)
"$DVPC" login "$REPO" >/dev/null
t1=$(now)
login_s=$(secs "$t0" "$t1")
mount_wait
mount2_s=$took
t0=$(now); ls -R "$MNT" >/dev/null; t1=$(now)
lsr3_s=$(secs "$t0" "$t1")
rss4=$(mem VmRSS)
hwm2=$(mem VmHWM)
unmount

load=$(cut -d' ' -f1 /proc/loadavg)
report=$(cat <<EOF
A volume of $FILES files of 60 to 300 bytes in $((FILES / 1000)) folders ($entries entries), on a folder mirror ($mirror_mb MB); \`dvpc import\` took $import_s s at a peak of $import_mb MB.

| \`dvpc mount\` | time | VmRSS |
|---|---|---|
| mounted, answering | $mount1_s s | $rss0 MB |
| after \`ls -R\` of the whole tree | $lsr1_s s (again: $lsr2_s s) | $rss1 MB |
| after reading 10,000 files | $read10k_s s | $rss2 MB |
| after reading 100,000 more | $read100k_s s | $rss3 MB |
| peak (VmHWM) | | $hwm MB |

A small file saved in it (written, then \`sync FILE\`): median $save_s s of 5.

On a PC that has never seen the volume: \`dvpc login\` $login_s s, \`dvpc mount\` answering after $mount2_s s, the first \`ls -R\` of the whole tree $lsr3_s s; the mount then holds $rss4 MB (peak $hwm2 MB).
EOF
)
stamp="$(date -u +%Y-%m-%d), $(nproc) cores, load $load; command: bench/mount-memory.sh"
printf '%s\n\n(%s)\n' "$report" "$stamp"
if ((WRITE)); then
	python3 "$script_dir/perfdoc.py" "$repo_root/docs/PERFORMANCE.md" mount-memory "The drive: a million files" "$report" "$stamp"
fi
