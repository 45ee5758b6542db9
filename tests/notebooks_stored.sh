#!/bin/sh
# notebooks_stored.sh - the notebooks in the source tree are stored executed,
# so they read well without running: every code cell ran, in order, in one
# session (execution counts 1, 2, 3, ...), none has an error output, each
# notebook shows at least one figure, and no output names a temporary build
# path. (Executing them is `make check-notebooks`; this only reads them.)
py=/usr/bin/python3
[ -x "$py" ] || { echo "SKIP: no /usr/bin/python3"; exit 77; }
exec "$py" - "$SRCDIR/notebooks" <<'PY'
import glob, json, os, sys
d = sys.argv[1]
files = sorted(glob.glob(os.path.join(d, "[0-9][0-9]_*.ipynb")))
bad = []
if len(files) != 6:
    bad.append("expected 6 notebooks in %s, found %d" % (d, len(files)))
for f in files:
    nb = json.load(open(f))
    name = os.path.basename(f)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    counts = [c.get("execution_count") for c in code]
    if counts != list(range(1, len(code) + 1)):
        bad.append("%s: execution counts %s, not 1..%d" % (name, counts, len(code)))
    images = 0
    for i, c in enumerate(code):
        for o in c.get("outputs", []):
            if o.get("output_type") == "error":
                bad.append("%s: code cell %d has an error output (%s)" % (name, i + 1, o.get("ename")))
            if "image/png" in o.get("data", {}):
                images += 1
            text = "".join(o.get("text", [])) + "".join(o.get("data", {}).get("text/plain", []))
            if "/tmp/" in text:
                bad.append("%s: code cell %d output names a /tmp path" % (name, i + 1))
    if images == 0:
        bad.append("%s: no figure in its outputs" % name)
    print("%s: %d code cells, %d figures" % (name, len(code), images))
for b in bad:
    print("FAIL: " + b)
sys.exit(1 if bad else 0)
PY
