"""The results: the text table (with numbered notes), Markdown, JSON."""

import json
import os
import platform
import subprocess
import time


def table(rows):
    head = ["#", "measure", "msmtp", "apus", "ratio", "target", "met"]
    body = []
    notes = []
    for r in rows:
        met = {True: "yes", False: "NO", None: "not measured"}[r.met]
        mark = ""
        if r.note:
            notes.append(r.note)
            mark = f" [{len(notes)}]"
        body.append([r.id, r.measure, r.msmtp or "—", (r.apus or "—") + mark, r.ratio or "—", r.target, met])
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    out = []
    out.append("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    out.append("  ".join("-" * w for w in widths))
    for b in body:
        out.append("  ".join(c.ljust(w) for c, w in zip(b, widths)))
    for i, n in enumerate(notes, 1):
        out.append(f"[{i}] {n}")
    return "\n".join(out)


def markdown_table(rows):
    out = ["| # | measure | msmtp | apus | ratio | target | met |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        met = {True: "yes", False: "no", None: "not measured"}[r.met]
        out.append(f"| {r.id} | {r.measure} | {r.msmtp or '—'} | {r.apus or '—'} | {r.ratio or '—'} "
                   f"| {r.target} | {met} |")
    return "\n".join(out)


def tool_version(argv):
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        return r.stdout.decode(errors="replace").strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return None


def write_json(path, command, args, msmtp_version, seconds, rows):
    """Every row with its samples, and what the run was (for comparing runs)."""
    with open(path, "w") as f:
        json.dump({"command": command, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                   "host": platform.node(), "cpus": os.cpu_count(), "loadavg": os.getloadavg(),
                   "quick": args.quick, "delay_ms": args.delay, "apus": args.apus,
                   "msmtp": msmtp_version, "seconds": seconds,
                   "rows": [r.as_dict() for r in rows]}, f, indent=2)
