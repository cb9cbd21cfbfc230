#!/usr/bin/env bash
# Clang's thread-safety analysis over our sources: every ABSL_GUARDED_BY member read or written
# without its mutex, every *Locked function called without it, every lock leaked or released
# twice is an error. Uses the build's compile_commands.json (the same flags as the real build,
# with clang++ -fsyntax-only: no objects are written).
#
#   tests/static/thread_safety.sh BUILD_DIR
#
# Which files: those of server/, runtime/, memory/ and tests/ whose .cc or same-named header
# takes a lock or declares guarded state. Guarded members are private, so only their class's
# own functions (in those two files) can touch them: the rest cannot break a locking rule.
# Debian 12's clang is 14 (installed by scripts/install_deps.sh); libstdc++'s std::mutex is
# not annotated, which is why the tree locks through memory/mutex.h.
set -euo pipefail
BUILD="${1:?usage: $0 BUILD_DIR}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLANG="${CLANG:-$(command -v clang++ || command -v clang++-14 || true)}"
if [ -z "$CLANG" ]; then
  echo "thread_safety: clang++ not found; run scripts/install_deps.sh" >&2
  exit 1
fi
DB="$BUILD/compile_commands.json"
[ -f "$DB" ] || { echo "thread_safety: $DB missing (configure with CMAKE_EXPORT_COMPILE_COMMANDS=ON)" >&2; exit 1; }
PY="${PYTHON:-python3}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# One shell command per selected file: the compile command with clang++, -fsyntax-only, GCC's
# own warning flags dropped and the analysis turned into errors.
"$PY" - "$DB" "$ROOT" "$CLANG" "$WORK" <<'PYEOF'
import json, os, re, shlex, sys
db, root, clang, work = sys.argv[1:]
pattern = re.compile(r"\bMutex\b|ABSL_GUARDED_BY|ABSL_EXCLUSIVE_LOCKS_REQUIRED|absl::Mutex")
selected = []
for entry in json.load(open(db)):
    src = os.path.realpath(os.path.join(entry["directory"], entry["file"]))
    rel = os.path.relpath(src, root)
    if rel.split(os.sep)[0] not in ("server", "runtime", "memory", "tests") or "fuzz" in rel:
        continue
    texts = [open(src, errors="replace").read()]
    header = os.path.splitext(src)[0] + ".h"
    if os.path.exists(header):
        texts.append(open(header, errors="replace").read())
    if not any(pattern.search(t) for t in texts):
        continue
    args = entry.get("arguments") or shlex.split(entry["command"])
    keep = []
    skip_next = False
    for a in args[1:]:
        if skip_next:
            skip_next = False
            continue
        if a in ("-o", "-MF", "-MT", "-MQ"):
            skip_next = True
            continue
        if a.startswith("-W") or a in ("-c", "-MD", "-MMD") or a.startswith("-fdiagnostics"):
            continue
        keep.append(a)
    cmd = [clang] + keep + ["-fsyntax-only", "-Wno-unknown-warning-option", "-Wthread-safety",
                            "-Werror=thread-safety"]
    selected.append((rel, entry["directory"], cmd))
with open(os.path.join(work, "jobs"), "w") as out:
    for rel, directory, cmd in sorted(set((r, d, tuple(c)) for r, d, c in selected)):
        out.write("cd %s && %s >%s 2>&1 || echo %s >>%s\n" % (
            shlex.quote(directory), " ".join(shlex.quote(c) for c in cmd),
            shlex.quote(os.path.join(work, rel.replace("/", "_") + ".log")), shlex.quote(rel),
            shlex.quote(os.path.join(work, "failed"))))
print("thread_safety: %d files" % len(selected))
PYEOF
xargs -P "$(nproc)" -I{} -d '\n' bash -c '{}' <"$WORK/jobs"
if [ -s "$WORK/failed" ]; then
  for f in $(cat "$WORK/failed"); do
    echo "----- $f" >&2
    grep -E "error|warning|note" "$WORK/${f//\//_}.log" | head -n 40 >&2
  done
  echo "thread_safety: FAILED in $(wc -l <"$WORK/failed") file(s)" >&2
  exit 1
fi
echo "thread_safety: no violation in $(wc -l <"$WORK/jobs") files"
