#!/usr/bin/env python3
"""The include rule of docs/ARCHITECTURE.md, enforced from the build's own target graph.

A file of runtime/, server/ or memory/ belongs to the one library that lists it (headers are
listed beside their sources in each folder's CMakeLists.txt). A source of any target — library,
binary, test or benchmark — may include such a file only when it belongs to the same target or to
one the target links (directly or through others). So a layer can reach only what its CMake
library links, and a new edge between folders is a line in a CMakeLists.txt, reviewed as such.

The graph comes from CMake's file API (codemodel-v2), which the top CMakeLists.txt asks for at
configure time. Prints each violation as file:line and exits 1; `--graph` prints our libraries and
what each links directly (the transitive reduction), for the docs.

    tests/static/include_layering.py BUILD_DIR [--graph] [--cmake CMAKE]
"""
import glob
import json
import os
import re
import subprocess
import sys

PRODUCT = ("runtime/", "server/", "memory/")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def load_codemodel(build, cmake):
    reply = os.path.join(build, ".cmake", "api", "v1", "reply")
    indexes = sorted(glob.glob(os.path.join(reply, "index-*.json")))
    if not indexes:
        # CMake answers a query that existed when it started: a build's first configure writes
        # the query (top CMakeLists.txt) but no reply (scripts/build.sh writes it beforehand).
        # Regenerating the configured build answers it.
        run = subprocess.run([cmake, build], capture_output=True, text=True)
        indexes = sorted(glob.glob(os.path.join(reply, "index-*.json")))
        if run.returncode != 0 or not indexes:
            sys.exit(f"{reply}: no CMake file-API reply, and `{cmake} {build}` did not write one:\n{run.stderr}")
    index = json.load(open(indexes[-1]))
    codemodel = next(o for o in index["objects"] if o["kind"] == "codemodel")
    model = json.load(open(os.path.join(reply, codemodel["jsonFile"])))
    source_root = model["paths"]["source"]
    configuration = model["configurations"][0]
    names = {t["id"]: t["name"] for t in configuration["targets"]}
    targets = {}
    for entry in configuration["targets"]:
        target = json.load(open(os.path.join(reply, entry["jsonFile"])))
        sources = []
        for source in target.get("sources", []):
            path = source["path"]
            if os.path.isabs(path):
                path = os.path.relpath(path, source_root)
            if not path.startswith(".."):
                sources.append(path)
        targets[target["name"]] = {
            "type": target["type"],
            "sources": sources,
            "deps": {names[d["id"]] for d in target.get("dependencies", [])},
        }
    return source_root, targets


def owners(targets):
    """Each product file's library: the one listing it, or (for an unlisted header) the one
    compiling its .cc. Returns (owner by path, errors)."""
    owner, errors = {}, []
    for name, target in sorted(targets.items()):
        for path in target["sources"]:
            if not path.startswith(PRODUCT):
                continue
            if path in owner and owner[path] != name:
                errors.append(f"{path}: listed by both {owner[path]} and {name}")
            owner[path] = name
    for path, name in list(owner.items()):
        stem, ext = os.path.splitext(path)
        if ext == ".cc" and stem + ".h" not in owner:
            owner[stem + ".h"] = name
    return owner, errors


def check(root, targets):
    owner, errors = owners(targets)
    for top in PRODUCT:
        for path in glob.glob(os.path.join(root, top, "**", "*.*"), recursive=True):
            rel = os.path.relpath(path, root)
            if rel.endswith((".h", ".cc")) and rel not in owner:
                errors.append(f"{rel}: not part of any target (list it in its folder's CMakeLists.txt)")
    for name, target in sorted(targets.items()):
        reachable = target["deps"] | {name}
        for path in target["sources"]:
            if not path.endswith((".h", ".cc")) or not os.path.exists(os.path.join(root, path)):
                continue
            for number, line in enumerate(open(os.path.join(root, path), encoding="utf-8"), 1):
                match = INCLUDE.match(line)
                if not match or not match.group(1).startswith(PRODUCT):
                    continue
                header = match.group(1)
                library = owner.get(header)
                if library is None:
                    errors.append(f"{path}:{number}: includes {header}, which no target lists")
                elif library not in reachable:
                    errors.append(f"{path}:{number}: includes {header} (of {library}), but {name} "
                                  f"does not link {library}")
    return errors


def graph(targets):
    ours = {n: t for n, t in targets.items()
            if t["type"] in ("STATIC_LIBRARY", "SHARED_LIBRARY", "INTERFACE_LIBRARY") and
            any(s.startswith(PRODUCT) for s in t["sources"])}
    for name in sorted(ours):
        deps = {d for d in ours[name]["deps"] if d in ours}
        direct = {d for d in deps if not any(d in ours[o]["deps"] for o in deps if o != d)}
        print(f"{name} -> {', '.join(sorted(direct)) or '(none of ours)'}")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmake = sys.argv[sys.argv.index("--cmake") + 1] if "--cmake" in sys.argv else "cmake"
    root, targets = load_codemodel(sys.argv[1], cmake)
    if "--graph" in sys.argv:
        graph(targets)
        return 0
    errors = check(root, targets)
    for error in errors:
        print(error)
    print(f"include_layering: {len(errors)} violation(s) in {len(targets)} targets")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
