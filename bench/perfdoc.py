"""Put a benchmark's report into docs/PERFORMANCE.md, between its markers.

usage: python3 bench/perfdoc.py DOC NAME HEADING REPORT STAMP

The block between <!-- NAME:begin --> and <!-- NAME:end --> is replaced by
REPORT and (STAMP); if DOC has no such markers, a section "## HEADING" with
them is added at its end.
"""
import re
import sys

path, name, heading, report, stamp = sys.argv[1:6]
doc = open(path).read()
begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
block = f"{begin}\n{report}\n\n({stamp})\n{end}"
if begin in doc:
    doc = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda m: block, doc, flags=re.S)
else:
    doc += f"\n## {heading}\n\n{block}\n"
open(path, "w").write(doc)
