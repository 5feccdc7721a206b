#!/usr/bin/env python3
"""sync_tree.py SRC DST - makes DST a copy of SRC's source tree, skipping build
dirs, .git, node_modules, caches and tests/mutants. Only files whose content
differs are written (they get a new mtime), so a build dir reused in DST
rebuilds exactly what changed; files gone from SRC are removed."""
import os
import shutil
import sys

SKIP_TOP = ("build", ".git")
SKIP_ANY = {"node_modules", "__pycache__", ".pytest_cache"}


def skipped(rel):
    parts = rel.split(os.sep)
    if parts[0].startswith(SKIP_TOP):
        return True
    if rel == os.path.join("tests", "mutants") or rel.startswith(os.path.join("tests", "mutants") + os.sep):
        return True
    return any(p in SKIP_ANY for p in parts)


def files(root):
    out = set()
    for d, dirs, names in os.walk(root):
        rel_d = os.path.relpath(d, root)
        dirs[:] = [x for x in dirs if not skipped(os.path.normpath(os.path.join(rel_d, x)))]
        for n in names:
            rel = os.path.normpath(os.path.join(rel_d, n))
            if not skipped(rel) and not os.path.islink(os.path.join(root, rel)):
                out.add(rel)
    return out


def same(a, b):
    try:
        if os.path.getsize(a) != os.path.getsize(b):
            return False
        with open(a, "rb") as fa, open(b, "rb") as fb:
            return fa.read() == fb.read()
    except OSError:
        return False


def main(src, dst):
    have, want = files(dst) if os.path.isdir(dst) else set(), files(src)
    for rel in want:
        s, d = os.path.join(src, rel), os.path.join(dst, rel)
        if not same(s, d):
            os.makedirs(os.path.dirname(d), exist_ok=True)
            shutil.copyfile(s, d)
            shutil.copymode(s, d)
    for rel in have - want:
        os.unlink(os.path.join(dst, rel))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
