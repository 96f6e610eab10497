#!/usr/bin/env python3
"""Every pair `duplicates` finds in this tree, past its 200-row cap (docs/DUPLICATES.md).

`duplicates --most` stops at 200 rows. This runs it on copies of two folders at a time
(each run well under 200 rows; a run that still reaches the cap is split file by file)
and keeps one row per pair of files, the way the whole-tree run names them. Runs found
in more than eight places across the whole tree are too common for the whole-tree run
to list, but may be listed here, where fewer places are read: this list is a superset.

    python3 scripts/duplicates-all.py > /tmp/all-pairs.txt

Reads the files git tracks (and untracked ones it does not ignore); writes only below a
temporary folder; prints `file:lines ~ file:lines marks`, sorted.
"""

import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROW = re.compile(r"^D\d+ (\S+):(\d+-\d+) ~ (\S+):(\d+-\d+)(.*)$")


def tracked(repo):
    def ls(*args):
        out = subprocess.run(["git", "-C", repo, "ls-files", *args], capture_output=True, text=True, check=True)
        return out.stdout.split("\n")
    return [f for f in ls() + ls("--others", "--exclude-standard") if f]


def group_of(path):
    """gateway/src/routes/x.rs -> gateway/src/routes; libs/store/src/... -> libs/store/src."""
    parts = path.split("/")
    depth = 3 if parts[0] == "libs" or parts[:3] == ["gateway", "src", "routes"] else 2
    return "/".join(parts[:depth]) if len(parts) > depth else os.path.dirname(path) or "."


def run(repo, files, scratch):
    shutil.rmtree(scratch, ignore_errors=True)
    for f in files:
        source = os.path.join(repo, f)
        if os.path.islink(source) or not os.path.isfile(source):
            continue
        target = os.path.join(scratch, f)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(source, target)
    out = subprocess.run(["duplicates", "--repo", scratch, "--most", "200", "--seconds", "300"],
                         capture_output=True, text=True).stdout.splitlines()
    capped = any("more pairs" in line for line in out)
    return [m.groups() for m in map(ROW.match, out) if m], capped


def main():
    repo = sys.argv[1] if len(sys.argv) > 1 else "."
    groups = {}
    for f in tracked(repo):
        groups.setdefault(group_of(f), []).append(f)
    rows = {}
    with tempfile.TemporaryDirectory() as temporary:
        scratch = os.path.join(temporary, "tree")

        def collect(left, right):
            found, capped = run(repo, sorted(set(left) | set(right)), scratch)
            if capped and (len(left) > 1 or len(right) > 1):
                def halves(files):
                    middle = len(files) // 2
                    return [files[:middle], files[middle:]] if len(files) > 1 else [files]

                if left is right:
                    first, second = halves(left)
                    collect(first, first)
                    collect(second, second)
                    collect(first, second)
                else:
                    for a in halves(left):
                        for b in halves(right):
                            collect(a, b)
                return
            if capped:
                print(f"incomplete: capped at 200 rows for {left} ~ {right}", file=sys.stderr)
            sides = (set(left), set(right))
            for a, ra, b, rb, marks in found:
                if left is not right and not ((a in sides[0] and b in sides[1]) or (a in sides[1] and b in sides[0])):
                    continue
                rows.setdefault(tuple(sorted((a, b))), f"{a}:{ra} ~ {b}:{rb}{marks}")

        names = sorted(groups)
        for x, y in itertools.combinations_with_replacement(names, 2):
            collect(groups[x], groups[x] if x == y else groups[y])
    for key in sorted(rows):
        print(rows[key])


if __name__ == "__main__":
    main()
