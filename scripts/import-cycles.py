#!/usr/bin/env python3
"""Import cycles between source files (run by scripts/check-tree.sh).

A file depends on another when it names something of that file's module by path: a `use`
(`crate::server::hub::Command`, `super::core::TurnCore`, `super::*`) or a path in code
(`crate::server::wire::encode(...)`). A parent's `mod child;` and its `pub use child::…`
re-exports (a facade) are not dependencies: the parent only lists what lives below it.
Prints each cycle (a strongly connected group of files) and exits 1 if there is one."""
import os, re, sys

# `--known DIR/`: a cycle wholly inside DIR is reported but does not fail (a debt being
# paid off; the list may only shrink).
known = [a for i, a in enumerate(sys.argv) if i > 0 and sys.argv[i - 1] == '--known']

root = 'src'
files = {}  # module path tuple -> file
for d, _, names in os.walk(root):
    for n in names:
        if not n.endswith('.rs'):
            continue
        p = os.path.join(d, n)
        rel = os.path.relpath(p, root)[:-3].split(os.sep)
        if rel in (['lib'], ['main']):
            mod = ()
        elif rel[-1] == 'mod':
            mod = tuple(rel[:-1])
        else:
            mod = tuple(rel)
        files[mod] = p

# `#[path = "x.rs"] mod tests;` files: map them to the module that declares them.
for mod, p in list(files.items()):
    src = open(p).read()
    for m in re.finditer(r'#\[path\s*=\s*"([^"]+)"\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;', src):
        target = os.path.normpath(os.path.join(os.path.dirname(p), m.group(1)))
        for k, v in list(files.items()):
            if v == target:
                del files[k]
        files[mod + (m.group(2),)] = target
by_file = {v: k for k, v in files.items()}

def strip(src):
    src = re.sub(r'//[^\n]*', '', src)
    src = re.sub(r'"(?:\\.|[^"\\])*"', '""', src)
    return src

def owner(path):
    """The longest module prefix of `path` that is a file."""
    for i in range(len(path), -1, -1):
        if tuple(path[:i]) in files:
            return tuple(path[:i])
    return None

deps = {m: set() for m in files}
for mod, p in files.items():
    src = strip(open(p).read())
    # The directory module a file's `super`/`self` are relative to.
    here = list(mod)
    src = re.sub(r'(?m)^\s*pub(?:\([^)]*\))?\s+use\s[^;]*;', '', src)  # facades
    # Inline modules (`mod tests { … }`): `super` inside one is the file's own module.
    inline = []
    for m in re.finditer(r'\bmod\s+(\w+)\s*\{', src):
        depth, i = 1, m.end()
        while depth and i < len(src):
            depth += {'{': 1, '}': -1}.get(src[i], 0)
            i += 1
        inline.append((m.start(), i, m.group(1)))
    for m in re.finditer(r'\b((?:crate|super|self)(?:::(?:super|\w+|\*))+)', src):
        parts = m.group(1).split('::')
        if parts[0] == 'crate':
            path, rest = [], parts[1:]
        else:
            path = list(here) + [name for (a, b, name) in inline if a < m.start() < b]
            rest = parts
            while rest and rest[0] in ('super', 'self'):
                if rest[0] == 'super':
                    path = path[:-1]
                rest = rest[1:]
        path += [x for x in rest if x != '*']
        o = owner(path)
        if o is not None and o != mod:
            deps[mod].add(o)
    # `child::x` relative to the current module (2018 paths: a child module shadows a crate
    # of the same name), in `use` and in code alike. `mod child;` itself is no dependency.
    for m in re.finditer(r'(?<![:\w])(\w+)::', src):
        if mod + (m.group(1),) in files:
            deps[mod].add(mod + (m.group(1),))

# Tarjan's strongly connected components.
index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
    for w in deps[v]:
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: out.append(comp)
sys.setrecursionlimit(10000)
for v in deps:
    if v not in index: visit(v)
failing = 0
for comp in out:
    names = sorted(files[c] for c in comp)
    debt = any(all(n.startswith(k) for n in names) for k in known)
    failing += not debt
    print(('known import cycle: ' if debt else 'import cycle: ') + ' <-> '.join(names))
    for c in sorted(comp):
        print('   ', files[c], '->', ', '.join(sorted(files[d] for d in deps[c] if d in comp)))
sys.exit(1 if failing else 0)
