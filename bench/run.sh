#!/usr/bin/env bash
# bench/run.sh: whole-program benchmark of dvpc against restic and borg.
#
# It builds a local corpus (no network), then for each tool and each run, in a
# fresh repository: first import, stored bytes, import of the unchanged tree,
# import after a small modification, export of the whole tree, and cat of one
# small file. It prints a Markdown table of the medians; with --write it puts
# that table into docs/PERFORMANCE.md between the bench markers.
#
# See bench/README.md for the knobs and what each phase means.
set -euo pipefail
export LC_ALL=C

usage() {
	cat <<'EOF'
usage: bench/run.sh [--write] [--help]

  --write   replace the section between <!-- bench:begin --> and
            <!-- bench:end --> in docs/PERFORMANCE.md with the results

environment:
  BENCH_DIR    work dir (default /tmp/dvpc-bench); the corpus is kept there
  BENCH_SMALL  1 for a small corpus (GOROOT/src/net + 50 MB file): smoke run
  RUNS         repetitions per tool (default 3); medians are reported
  TOOLS        tools to run (default "dvpc restic borg"; also "borg-zstd")
  CAT_REPS     cat repetitions per run (default 10)
  CAT_FILE     file to cat, relative to the corpus (default go/src/net/pipe.go)
  VERIFY       1 (default) checks each export against the tree with diff -r
  KEEP         1 keeps the per-run repositories and exports in BENCH_DIR/runs
  DVPC_BIN     a dvpc binary to use instead of building ./cmd/dvpc
  PERF_DOC     the file --write edits (default docs/PERFORMANCE.md)
EOF
}

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)

# The command line as given, with the knobs the caller set, for the record.
cmdline=""
for v in BENCH_DIR BENCH_SMALL RUNS TOOLS CAT_REPS CAT_FILE VERIFY KEEP DVPC_BIN; do
	if [[ -n ${!v+x} ]]; then
		val=${!v}
		[[ $val == *[[:space:]]* ]] && val="\"$val\""
		cmdline+="$v=$val "
	fi
done
cmdline+="bench/run.sh${*:+ $*}"

WRITE=0
for arg in "$@"; do
	case $arg in
	--write) WRITE=1 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done

WORK=${BENCH_DIR:-/tmp/dvpc-bench}
SMALL=${BENCH_SMALL:-0}
RUNS=${RUNS:-3}
TOOLS=${TOOLS:-dvpc restic borg}
CAT_REPS=${CAT_REPS:-10}
CAT_FILE=${CAT_FILE:-go/src/net/pipe.go}
VERIFY=${VERIFY:-1}
KEEP=${KEEP:-0}
EXPORT_DIR=${EXPORT_DIR:-$( [[ -d /dev/shm && -w /dev/shm ]] && echo /dev/shm || echo "$BENCH_DIR")}
PERF_DOC=${PERF_DOC:-$repo_root/docs/PERFORMANCE.md}
PASS=dvpc-bench-passphrase-not-a-secret

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, not '$RUNS'"
[[ $CAT_REPS =~ ^[1-9][0-9]*$ ]] || die "CAT_REPS must be a positive integer, not '$CAT_REPS'"
read -r -a tools <<<"$TOOLS"
((${#tools[@]} > 0)) || die "TOOLS is empty"
for t in "${tools[@]}"; do
	case $t in dvpc | restic | borg | borg-zstd) ;; *) die "unknown tool '$t' in TOOLS (known: dvpc restic borg borg-zstd)" ;; esac
done
has_tool() { [[ " ${tools[*]} " == *" $1 "* ]]; }

if [[ $SMALL == 1 ]]; then
	corpus_name="corpus-small"
	big_bytes=50000000
else
	corpus_name=corpus
	big_bytes=500000000
fi

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
corpus=$WORK/$corpus_name
tree=$WORK/tree      # the per-run copy of the corpus that is imported and modified
runs_dir=$WORK/runs  # per-run repositories, homes and exports
raw=$WORK/results.tsv
LOG=$WORK/bench.log
timef=$WORK/.time

# ---------------------------------------------------------------- cleanup

corpus_tmp=""
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	local rc=$?
	rm -f "$timef"
	[[ -n $corpus_tmp ]] && rm -rf "$corpus_tmp"
	if [[ $KEEP != 1 ]]; then
		rm -rf "$tree" "$runs_dir"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM

# ---------------------------------------------------------------- tools

install_missing() {
	local pkgs=()
	[[ -x /usr/bin/time ]] || pkgs+=(time)
	command -v python3 >/dev/null || pkgs+=(python3)
	if has_tool restic && ! command -v restic >/dev/null; then pkgs+=(restic); fi
	if { has_tool borg || has_tool borg-zstd; } && ! command -v borg >/dev/null; then pkgs+=(borgbackup); fi
	((${#pkgs[@]} > 0)) || return 0
	local sudo=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null || die "need ${pkgs[*]}: install them (apt-get install ${pkgs[*]}) or run as root"
		sudo=(sudo)
	fi
	say "installing ${pkgs[*]} with apt-get (log: $LOG)"
	{ "${sudo[@]}" apt-get update -q && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${pkgs[@]}"; } \
		>>"$LOG" 2>&1 || die "apt-get install ${pkgs[*]} failed; see $LOG"
}

build_dvpc() {
	if [[ -n ${DVPC_BIN:-} ]]; then
		[[ -x $DVPC_BIN ]] || die "DVPC_BIN=$DVPC_BIN is not an executable"
		say "using dvpc binary $DVPC_BIN"
		cp "$DVPC_BIN" "$WORK/dvpc"
		return
	fi
	say "building dvpc from $repo_root"
	if ! (cd "$repo_root" && go build -o "$WORK/dvpc" ./cmd/dvpc) >>"$LOG" 2>&1; then
		tail -n 12 "$LOG" | sed 's/^/    /' >&2
		die "go build ./cmd/dvpc failed (see $LOG); to skip dvpc: TOOLS=\"restic borg\" $0"
	fi
}

versions() {
	local rev
	if rev=$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null); then
		[[ -n $(git -C "$repo_root" status --porcelain 2>/dev/null) ]] && rev+="-dirty"
	else
		rev="uncommitted"
	fi
	local parts=()
	[[ -n ${DVPC_BIN:-} ]] && rev="binary $DVPC_BIN"
	has_tool dvpc && parts+=("dvpc $rev ($(go version | awk '{print $3}'))")
	has_tool restic && parts+=("$(restic version | awk '{print $1, $2}')")
	{ has_tool borg || has_tool borg-zstd; } && parts+=("$(borg --version)")
	local IFS=,
	local joined="${parts[*]}"
	echo "${joined//,/, }"
}

# ---------------------------------------------------------------- corpus

check_space() {
	# a copy of the corpus each for the tree, the repository and the export
	local copy=$((big_bytes + 300000000)) need avail
	need=$((copy * 3))
	[[ -d $corpus ]] || need=$((need + copy))
	avail=$(df -B1 --output=avail "$WORK" | tail -n1 | tr -d ' ')
	((avail > need)) || die "$WORK has $((avail / 1000000)) MB free; the benchmark needs about $((need / 1000000)) MB"
}

build_corpus() {
	if [[ -d $corpus ]]; then
		say "reusing corpus $corpus"
		return
	fi
	local goroot
	goroot=$(go env GOROOT) || die "go env GOROOT failed: the corpus copies the Go tree"
	corpus_tmp=$corpus.tmp.$$
	rm -rf "$corpus_tmp"
	mkdir -p "$corpus_tmp/go"
	say "building corpus $corpus from $goroot and /usr/lib"
	if [[ $SMALL == 1 ]]; then
		mkdir -p "$corpus_tmp/go/src"
		cp -a "$goroot/src/net" "$corpus_tmp/go/src/net"
	else
		cp -a "$goroot/." "$corpus_tmp/go/"
	fi
	chmod -R u+w "$corpus_tmp"
	# tar dies of SIGPIPE once head has its bytes: that is expected.
	{ tar -cf - /usr/lib 2>/dev/null || true; } | head -c "$big_bytes" >"$corpus_tmp/big.tar"
	local got
	got=$(stat -c %s "$corpus_tmp/big.tar")
	((got == big_bytes)) || die "big.tar has $got bytes, want $big_bytes (is /usr/lib that small?)"
	mv "$corpus_tmp" "$corpus"
	corpus_tmp=""
}

# tree_bytes DIR prints the total size of the regular files under DIR.
tree_bytes() { find "$1" -type f -printf '%s\n' | awk '{s += $1} END {printf "%d\n", s}'; }
repo_bytes() { du -sb "$1" | cut -f1; }

# modify_tree appends a line to 10 files spread over the Go tree, inserts 100
# bytes in the middle of big.tar and appends 1 MiB to it. Deterministic.
modify_tree() {
	python3 - "$1" <<'PY'
import hashlib, os, shutil, sys
root = sys.argv[1]
files = []
for d, dirs, names in os.walk(os.path.join(root, "go")):
    dirs.sort()
    for n in sorted(names):
        p = os.path.join(d, n)
        if os.path.isfile(p) and not os.path.islink(p):
            files.append(p)
files.sort()
for i in range(10):
    with open(files[i * len(files) // 10], "ab") as f:
        f.write(b"// dvpc bench: one appended line\n")
big = os.path.join(root, "big.tar")
tmp = big + ".bench-tmp"
size = os.path.getsize(big)
mid = size // 2
with open(big, "rb") as src, open(tmp, "wb") as dst:
    left = mid
    while left:
        b = src.read(min(left, 8 << 20))
        dst.write(b)
        left -= len(b)
    dst.write(hashlib.shake_256(b"dvpc-bench insert").digest(100))
    shutil.copyfileobj(src, dst, 8 << 20)
    dst.write(hashlib.shake_256(b"dvpc-bench append").digest(1 << 20))
shutil.copymode(big, tmp)
os.replace(tmp, big)
PY
}

# ---------------------------------------------------------------- timing

# timed TAG [--out FILE] [--cwd DIR] -- CMD... runs CMD under /usr/bin/time,
# output to the log (stdout to FILE if given), and sets T_SEC (wall seconds)
# and T_KB (peak RSS in KiB). A failing CMD ends the current run.
timed() {
	local tag=$1 out=$LOG cwd=.
	shift
	while [[ $1 != -- ]]; do
		case $1 in
		--out) out=$2; shift 2 ;;
		--cwd) cwd=$2; shift 2 ;;
		*) die "timed: bad option $1" ;;
		esac
	done
	shift
	# Log the command without its environment, which holds the passphrase.
	local shown=("$@")
	while [[ ${shown[0]} == env || ${shown[0]} == -i || ${shown[0]} == *=* ]]; do shown=("${shown[@]:1}"); done
	printf '\n### %s: %s\n' "$tag" "${shown[*]}" >>"$LOG"
	sync
	local rc=0 t0 t1
	t0=$EPOCHREALTIME
	(cd "$cwd" && exec /usr/bin/time -f '%e %M' -o "$timef" "$@") </dev/null >>"$out" 2>>"$LOG" || rc=$?
	t1=$EPOCHREALTIME
	if ((rc != 0)); then
		printf 'bench: error: %s failed with exit status %d: %s\n' "$tag" "$rc" "$*" >&2
		printf '  last lines of %s:\n' "$LOG" >&2
		tail -n 12 "$LOG" | sed 's/^/    /' >&2
		exit 1
	fi
	# Wall time from the shell's microsecond clock: %e rounds to 10 ms.
	T_SEC=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
	read -r _ T_KB < <(tail -n1 "$timef")
}

record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$raw"; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN {if (s < 0.001) s = 0.001; printf "%.1f\n", b / 1e6 / s}'; }
median() { sort -g | awk '{a[NR] = $1} END {if (NR == 0) exit; if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# ---------------------------------------------------------------- the tools

# tool_env sets E, the isolated environment of one tool run in $rd.
tool_env() {
	local h=$rd/home
	E=(env -i "PATH=$PATH" LC_ALL=C.UTF-8 "HOME=$h" "XDG_CONFIG_HOME=$h/.config"
		"XDG_STATE_HOME=$h/.local/state" "XDG_CACHE_HOME=$h/.cache" "XDG_DATA_HOME=$h/.local/share")
	case $tool in
	dvpc) E+=("DVPC_PASSPHRASE=$PASS") ;;
	restic) E+=("RESTIC_REPOSITORY=$repo" "RESTIC_PASSWORD=$PASS") ;;
	borg*) E+=("BORG_BASE_DIR=$h" "BORG_PASSPHRASE=$PASS" BORG_DISPLAY_PASSPHRASE=no) ;;
	esac
}

borg_comp() { [[ $tool == borg-zstd ]] && echo zstd,3 || echo lz4; }

do_init() {
	case $tool in
	dvpc) timed "$tool init" -- "${E[@]}" "$WORK/dvpc" init "$repo" ;;
	restic) timed "$tool init" -- "${E[@]}" restic init ;;
	borg*) timed "$tool init" -- "${E[@]}" borg init -e repokey "$repo" ;;
	esac
}

# do_import N imports the tree for the Nth time.
do_import() {
	case $tool in
	dvpc) timed "$tool import $1" -- "${E[@]}" "$WORK/dvpc" import "$tree" / ;;
	restic) timed "$tool import $1" -- "${E[@]}" restic backup "$tree" ;;
	borg*) timed "$tool import $1" -- "${E[@]}" borg create --stats --compression "$(borg_comp)" "$repo::a$1" "$tree" ;;
	esac
}

# do_export OUT writes the latest tree into OUT and sets ROOT to where the
# tree's root landed inside OUT.
do_export() {
	case $tool in
	dvpc)
		timed "$tool export" -- "${E[@]}" "$WORK/dvpc" export "$1"
		ROOT=$1 ;;
	restic)
		timed "$tool export" -- "${E[@]}" restic restore latest --target "$1"
		ROOT=$1$tree ;;
	borg*)
		timed "$tool export" --cwd "$1" -- "${E[@]}" borg extract "$repo::a3"
		ROOT=$1$tree ;;
	esac
}

# do_cat REL OUT prints the latest version of the tree's file REL into OUT.
do_cat() {
	case $tool in
	dvpc) timed "$tool cat" --out "$2" -- "${E[@]}" "$WORK/dvpc" cat "/$1" ;;
	restic) timed "$tool cat" --out "$2" -- "${E[@]}" restic dump latest "$tree/$1" ;;
	borg*) timed "$tool cat" --out "$2" -- "${E[@]}" borg extract --stdout "$repo::a3" "${tree#/}/$1" ;;
	esac
}

# ---------------------------------------------------------------- one run

# bench_one TOOL RUN measures every phase for one tool in a fresh repository.
# It runs in a subshell: any failure ends this run only.
bench_one() {
	tool=$1
	local run=$2 tag="$1 #$2" s1 s2 s3 bytes out cat_out i
	rd=$runs_dir/$tool-$run
	repo=$rd/repo
	rm -rf "$rd" "$tree"
	mkdir -p "$rd/home" "$tree"
	cp -a "$corpus/." "$tree/"
	tool_env

	do_init
	record "$tool" "$run" init_s "$T_SEC"

	do_import 1
	s1=$(repo_bytes "$repo")
	record "$tool" "$run" import1_s "$T_SEC"
	record "$tool" "$run" import1_mbps "$(mbps "$corpus_bytes" "$T_SEC")"
	record "$tool" "$run" import1_rss_mib "$((T_KB / 1024))"
	record "$tool" "$run" stored1_mb "$(awk -v b="$s1" 'BEGIN {printf "%.1f", b / 1e6}')"
	say "$tag first import: $T_SEC s, $((T_KB / 1024)) MiB peak RSS, $((s1 / 1000000)) MB stored"

	do_import 2
	s2=$(repo_bytes "$repo")
	record "$tool" "$run" import2_s "$T_SEC"
	record "$tool" "$run" added2_kb "$(awk -v b="$((s2 - s1))" 'BEGIN {printf "%.1f", b / 1e3}')"
	say "$tag unchanged import: $T_SEC s, $((s2 - s1)) bytes added"

	modify_tree "$tree"
	do_import 3
	s3=$(repo_bytes "$repo")
	record "$tool" "$run" import3_s "$T_SEC"
	record "$tool" "$run" added3_mb "$(awk -v b="$((s3 - s2))" 'BEGIN {printf "%.2f", b / 1e6}')"
	say "$tag modified import: $T_SEC s, $((s3 - s2)) bytes added"

	# Export to EXPORT_DIR (a tmpfs by default) so that the phase measures
	# the tools, not how fast this virtual disk allocates fresh blocks.
	out=$EXPORT_DIR/dvpc-bench-out-$tool-$run
	rm -rf "$out"
	mkdir -p "$out"
	bytes=$(tree_bytes "$tree")
	do_export "$out"
	record "$tool" "$run" export_s "$T_SEC"
	record "$tool" "$run" export_mbps "$(mbps "$bytes" "$T_SEC")"
	record "$tool" "$run" export_rss_mib "$((T_KB / 1024))"
	say "$tag export: $T_SEC s, $(mbps "$bytes" "$T_SEC") MB/s"
	if [[ $VERIFY == 1 ]]; then
		diff -rq --no-dereference "$tree" "$ROOT" >>"$LOG" 2>&1 ||
			die "$tag: the exported tree in $ROOT differs from $tree (see $LOG)"
	fi
	rm -rf "$out"

	cat_out=$rd/cat.out
	: >"$rd/cat.times"
	for ((i = 0; i < CAT_REPS; i++)); do
		rm -f "$cat_out"
		do_cat "$CAT_FILE" "$cat_out"
		echo "$T_SEC" >>"$rd/cat.times"
	done
	cmp -s "$cat_out" "$tree/$CAT_FILE" || die "$tag: cat of $CAT_FILE printed something else than the file"
	record "$tool" "$run" cat_s "$(median <"$rd/cat.times")"
	say "$tag cat: median $(median <"$rd/cat.times") s of $CAT_REPS"
}

# ---------------------------------------------------------------- report

label() {
	case $1 in
	borg) echo "borg (lz4)" ;;
	borg-zstd) echo "borg (zstd,3)" ;;
	*) echo "$1" ;;
	esac
}

# med TOOL METRIC prints the median over the runs, or nothing.
med() { awk -F'\t' -v t="$1" -v m="$2" '$1 == t && $3 == m {print $4}' "$raw" | median; }

cell() {
	local v
	v=$(med "$1" "$2")
	# shellcheck disable=SC2059 # the format comes from the table below
	if [[ -z $v ]]; then
		echo "failed"
	elif [[ $3 == t ]]; then # seconds: 3 decimals below 1 s
		awk -v v="$v" 'BEGIN {printf (v < 1 ? "%.3f" : "%.2f"), v}'
	else
		printf "$3" "$v"
	fi
}

table() {
	local ratio=0
	has_tool dvpc && has_tool restic && ratio=1
	local head="| phase" rule="|---"
	for t in "${tools[@]}"; do head+=" | $(label "$t")"; rule+="|--:"; done
	((ratio)) && head+=" | dvpc/restic" && rule+="|--:"
	echo "$head |"
	echo "$rule|"
	local name metric fmt line a b
	while IFS='|' read -r name metric fmt; do
		line="| $name"
		for t in "${tools[@]}"; do line+=" | $(cell "$t" "$metric" "$fmt")"; done
		if ((ratio)); then
			a=$(med dvpc "$metric")
			b=$(med restic "$metric")
			if [[ -n $a && -n $b ]] && awk -v b="$b" 'BEGIN {exit !(b > 0)}'; then
				line+=" | $(awk -v a="$a" -v b="$b" 'BEGIN {r = a / b; printf (r < 0.1 ? "%.3f" : "%.2f"), r}')"
			else
				line+=" | –"
			fi
		fi
		echo "$line |"
	done <<'EOF'
init (s)|init_s|t
first import (s)|import1_s|t
first import (MB/s)|import1_mbps|%.1f
first import peak RSS (MiB)|import1_rss_mib|%.0f
stored after first import (MB)|stored1_mb|%.1f
import of the unchanged tree (s)|import2_s|t
added by the unchanged import (kB)|added2_kb|%.1f
import after the modification (s)|import3_s|t
added by the modification (MB)|added3_mb|%.2f
export of the whole tree (s)|export_s|t
export (MB/s)|export_mbps|%.1f
export peak RSS (MiB)|export_rss_mib|%.0f
cat of one small file (s)|cat_s|t
EOF
}

report() {
	local cpu kind
	cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
	[[ $SMALL == 1 ]] && kind="small corpus: GOROOT/src/net + 50 MB" || kind="GOROOT + 500 MB"
	echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores (${cpu:-unknown CPU}), $(free -g | awk '/^Mem:/ {print $2}') GiB of memory, with"
	echo
	echo "    $cmdline"
	echo
	echo "Corpus ($kind slice of \`tar cf - /usr/lib\`): $corpus_files files, $(awk -v b="$corpus_bytes" 'BEGIN {printf "%.1f", b / 1e6}') MB."
	if ((RUNS == 1)); then
		echo "One run, in a fresh repository on the local disk; MB = 10^6 bytes."
	else
		echo "Medians of $RUNS runs, each in a fresh repository on the local disk, exporting to $EXPORT_DIR; MB = 10^6 bytes."
	fi
	echo "Versions: $(versions)."
	echo "Load average (1 min) at the start: $load_start, at the end: $(cut -d' ' -f1 /proc/loadavg)."
	echo
	table
	if [[ -s $WORK/failed ]]; then
		echo
		echo "Failed runs: $(tr '\n' ' ' <"$WORK/failed")(see $LOG)."
	fi
}

write_doc() {
	local section=$1 tmp
	mkdir -p "$(dirname "$PERF_DOC")"
	[[ -f $PERF_DOC ]] || printf '# Performance\n' >"$PERF_DOC"
	tmp=$PERF_DOC.tmp.$$
	if grep -q '<!-- bench:begin -->' "$PERF_DOC" && grep -q '<!-- bench:end -->' "$PERF_DOC"; then
		awk -v f="$section" '
			/<!-- bench:begin -->/ {print; while ((getline l < f) > 0) print l; skip = 1; next}
			/<!-- bench:end -->/ {skip = 0}
			!skip {print}' "$PERF_DOC" >"$tmp"
	else
		{
			cat "$PERF_DOC"
			printf '\n## Whole-program benchmark\n\n<!-- bench:begin -->\n'
			cat "$section"
			printf '<!-- bench:end -->\n'
		} >"$tmp"
	fi
	mv "$tmp" "$PERF_DOC"
	say "wrote the results into $PERF_DOC"
}

# ---------------------------------------------------------------- main

: >"$LOG"
: >"$raw"
: >"$WORK/failed"
say "work dir $WORK, tools: ${tools[*]}, runs: $RUNS, tool output in $LOG"

command -v go >/dev/null || die "go is not on PATH: the corpus copies the Go tree and dvpc is built with it"
install_missing
check_space
has_tool dvpc && build_dvpc
build_corpus
[[ -f $corpus/$CAT_FILE ]] || die "CAT_FILE $CAT_FILE is not in the corpus $corpus"
corpus_bytes=$(tree_bytes "$corpus")
corpus_files=$(find "$corpus" -type f | wc -l)
say "corpus: $corpus_files files, $((corpus_bytes / 1000000)) MB"
load_start=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load_start" -v n="$(nproc)" 'BEGIN {exit !(l > n / 2)}'; then
	say "warning: load average is $load_start on $(nproc) cores: other work will skew the timings"
fi

for ((run = 1; run <= RUNS; run++)); do
	for tool in "${tools[@]}"; do
		say "$tool run $run of $RUNS"
		set +e
		(
			set -e
			bench_one "$tool" "$run"
		)
		rc=$?
		set -e
		if ((rc != 0)); then
			echo "$tool#$run" >>"$WORK/failed"
			say "$tool run $run failed; going on with the others"
		fi
		if [[ $KEEP != 1 ]]; then rm -rf "$runs_dir/$tool-$run"; fi
	done
done
[[ $KEEP == 1 ]] || rm -rf "$tree"

section=$WORK/section.md
report >"$section"
echo
cat "$section"

if [[ -s $WORK/failed ]]; then
	((WRITE)) && say "not writing $PERF_DOC: some runs failed"
	exit 1
fi
((WRITE)) && write_doc "$section"
exit 0
