"""A BOM report as one self-contained HTML page: a summary, one row per
flash line, and each identified part's erase map drawn as inline SVG (one
bar per erase size, regions labelled with their addresses).  No scripts, no
external resources; everything taken from the BOM is escaped."""

from __future__ import annotations

from html import escape
from typing import Any

from flashcheck.rules.erasemap import segments
from flashcheck.units import format_addr, format_size

_COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "unknown": "#9a6700"}

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1100px;color:#1f2328;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #d0d7de}
h3{font-size:1.05em;margin:1.4em 0 .3em}
table{border-collapse:collapse;width:100%;margin:.5em 0} th,td{border:1px solid #d0d7de;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f6f8fa} td.v{font-weight:bold;white-space:nowrap} .pass{color:#1a7f37} .fail{color:#cf222e} .unknown{color:#9a6700}
.summary span{display:inline-block;margin-right:1.5em} .muted{color:#656d76} code{font-family:ui-monospace,monospace}
svg{display:block;margin:.3em 0 .6em} svg text{font:11px ui-monospace,monospace}
ul.alt{margin:0;padding-left:1.1em}
"""


def e(x: Any) -> str:
    return escape(str(x), quote=True)


def erase_map_svg(layout, capacity: int, width: int = 900) -> str:
    """The erase map of one layout: a bar per erase size, green where that
    size erases, red where it does not; region boundaries marked with their
    addresses below the bars.  Each region gets at least 10 px so a small
    parameter area stays visible (the scale is therefore not linear for
    such regions; the table under the picture gives exact addresses)."""
    segs = segments(layout, capacity)
    label_w, bar_h, gap = 150, 20, 6
    plot = width - label_w - 10
    minw = 10
    raw = [(s.end - s.start) / capacity * plot for s in segs]
    small = sum(minw for r in raw if r < minw)
    big = sum(r for r in raw if r >= minw) or 1
    scale = (plot - small) / big
    widths = [minw if r < minw else r * scale for r in raw]
    xs = [label_w]
    for w in widths:
        xs.append(xs[-1] + w)
    sizes = sorted({sz for s in segs for sz in s.sizes})
    rows = max(1, len(sizes))
    top = 4
    axis_y = top + rows * (bar_h + gap)
    height = axis_y + 58
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'role="img" aria-label="erase map">']
    if not sizes:
        out.append(f'<text x="{label_w}" y="{top + 14}" fill="#cf222e">no erase layout known</text>')
    for i, sz in enumerate(sizes):
        y = top + i * (bar_h + gap)
        ops = sorted({o for s in segs for o in s.sizes.get(sz, ())})
        label = f"{format_size(sz)} " + "/".join(f"0x{o:02X}" for o in ops)
        out.append(f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end">{e(label)}</text>')
        for s, x0, x1 in zip(segs, xs, xs[1:]):
            ok = sz in s.sizes
            colour = "#2da44e" if ok else "#f3b3b3"
            what = f"{format_size(sz)} erase {'works' if ok else 'does not work'} at {s}"
            out.append(f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="{bar_h}" fill="{colour}" '
                       f'stroke="#ffffff" stroke-width="1"><title>{e(what)}</title></rect>')
    # boundaries and their addresses: each label in the first of three rows
    # where it does not overlap another (a small parameter area's boundary
    # sits right next to 0x000000)
    bounds = [(xs[i], segs[i].start) for i in range(len(segs))] + [(xs[-1], capacity)]
    taken: list[list[tuple[float, float]]] = [[], [], []]
    for j, (x, addr) in enumerate(bounds):
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{axis_y + 4}" stroke="#57606a" stroke-width="0.6"/>')
        is_last = j == len(bounds) - 1
        text = format_addr(capacity - 1) + " end" if is_last else format_addr(addr)
        w = 6.7 * len(text) + 4
        left = is_last or x + w > width - 2  # no room on the right: label to the left of the line
        span = (x - w, x) if left else (x, x + w)
        for row, spans in enumerate(taken):
            if all(span[1] <= a or span[0] >= b for a, b in spans):
                spans.append(span)
                anchor = "end" if left else "start"
                dx = -1 if left else 1
                out.append(f'<line x1="{x:.1f}" y1="{axis_y + 4}" x2="{x:.1f}" y2="{axis_y + 6 + row * 14}" '
                           f'stroke="#57606a" stroke-width="0.6"/>')
                out.append(f'<text x="{x + dx:.1f}" y="{axis_y + 16 + row * 14}" text-anchor="{anchor}">{e(text)}</text>')
                break
    out.append("</svg>")
    return "".join(out)


def _segment_table(layout, capacity: int) -> str:
    rows = []
    for s in segments(layout, capacity):
        sizes = ", ".join(f"{format_size(k)} ({'/'.join(f'0x{o:02X}' for o in v)})" for k, v in s.sizes.items())
        rows.append(f"<tr><td><code>{e(s)}</code></td><td>{e(format_size(s.end - s.start))}</td>"
                    f"<td>{e(sizes) if sizes else '<span class=fail>none</span>'}</td></tr>")
    return ("<table><tr><th>region</th><th>length</th><th>erase sizes here (opcodes)</th></tr>"
            + "".join(rows) + "</table>")


def render(report) -> str:
    """The page for a :class:`flashcheck.workflows.bom.Report`."""
    c = report.counts()
    title = f"flashcheck BOM report: {report.path.name} on {report.board.name}"
    h = [f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{e(title)}</title>",
         "<meta name=viewport content='width=device-width,initial-scale=1'>",
         f"<style>{_CSS}</style></head><body>",
         f"<h1>{e(title)}</h1>",
         f"<p class=muted>Board: {e(report.board.title)}. {e(report.describe()[:1].upper() + report.describe()[1:])}.</p>",
         "<p class=summary>"
         f"<span><b>{len(report.lines)}</b> flash lines</span>"
         f"<span class=pass><b>{c['pass']}</b> pass</span>"
         f"<span class=fail><b>{c['fail']}</b> fail</span>"
         f"<span class=unknown><b>{c['unknown']}</b> unknown</span>"
         f"<span class=muted>{report.skipped} non-flash lines skipped, {report.empty} without a code; "
         f"{report.rows} rows read</span></p>"]
    overall = "fail" if c["fail"] else "unknown" if c["unknown"] else "pass"
    h.append(f"<p>Overall: <b class={overall}>{overall.upper()}</b></p>")
    h.append("<h2>Flash lines</h2><table><tr><th>where</th><th>order code</th><th>verdict</th><th>part</th>"
             "<th>reason</th><th>alternates that pass</th></tr>")
    parts: dict[str, tuple[Any, tuple[str, ...]]] = {}
    for ln in report.lines:
        r = ln.result
        who = r.who(" / ")
        if not r.curated:
            who += " (uncurated)"
        for p in ([r.part] if r.part else r.candidates):
            configs = r.match.configurations.get(p.name, ()) if r.match else ()
            parts.setdefault(p.name, (p, configs))
        if ln.alternates:
            alts = "<ul class=alt>" + "".join(
                f"<li>{e(a.manufacturer)} <b>{e(a.name)}</b> <span class=muted>({e(a.note)})</span></li>"
                for a in ln.alternates) + "</ul>"
            alts += f"<span class=muted>{e(ln.alternates_basis)}</span>"
        else:
            alts = f"<span class=muted>{e(ln.alternates_basis) or '-'}</span>"
        anchor = f"<a href='#part-{e(r.part.name)}'>{e(who)}</a>" if r.part else e(who)
        h.append(f"<tr><td>{e(ln.where)}</td><td><code>{e(ln.code)}</code></td>"
                 f"<td class='v {e(r.verdict)}'>{e(r.verdict.upper())}</td><td>{anchor}</td>"
                 f"<td>{e(r.reason)}</td><td>{alts}</td></tr>")
    h.append("</table>")
    if not report.lines:
        h.append("<p class=muted>No flash parts found in this BOM.</p>")
    if parts:
        h.append("<h2>Erase maps</h2><p class=muted>One bar per erase size: green where that erase works, "
                 "red where it does not. Small regions are drawn wider than scale; exact addresses are in the tables.</p>")
    for name, (p, configs) in parts.items():
        h.append(f"<h3 id='part-{e(name)}'>{e(p.manufacturer)} {e(name)} <span class=muted>"
                 f"{e(format_size(p.capacity))}, JEDEC ID {e(p.jedec_id)}"
                 f"{'' if p.curated else ', uncurated'}</span></h3>")
        for lay in p.layouts:
            head = "" if lay.name == "default" else f"Configuration <b>{e(lay.name)}</b>"
            if lay.select:
                head += f" ({e(lay.select)})"
            if configs:
                head += " - this order code" if lay.name in configs else " - not this order code"
            if head:
                h.append(f"<p>{head}</p>")
            h.append(erase_map_svg(lay, p.capacity))
            h.append(_segment_table(lay, p.capacity))
    h.append("<p class=muted>Generated by flashcheck. Verdicts follow the board profile's rules; "
             "see <code>flashcheck check --explain</code> for evidence and sources.</p></body></html>")
    return "\n".join(h)
