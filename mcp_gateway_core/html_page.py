"""The one look of every page people see (gateway, auth server, local IdP): no script, every value escaped.

Pages carry a Content-Security-Policy that allows their inline style and nothing else, so
even an escaping mistake could not run script.  (No ``form-action``: browsers apply it to
the redirects after a post, and the logout and sign-in forms redirect to other origins.)
"""

from __future__ import annotations

from html import escape

STYLE = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#1f2328;line-height:1.45}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
code,pre{background:#f3f4f6;border-radius:4px;font-size:.9em}code{padding:.1rem .3rem;overflow-wrap:anywhere}
pre{padding:.6rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.4rem;border-bottom:1px solid #ddd;vertical-align:top}
.button{display:inline-block;padding:.55rem 1.1rem;background:#1f6feb;color:#fff;border:0;border-radius:6px;text-decoration:none;font:inherit;cursor:pointer}
.muted{color:#57606a}.error{border-left:4px solid #cf222e;padding-left:1rem}
.card{max-width:24rem;margin:3rem auto;padding:1.5rem;border:1px solid #d0d7de;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.06)}
.card label{display:block;margin:.8rem 0 .2rem;font-weight:600}.card input{width:100%;padding:.5rem;font:inherit;border:1px solid #d0d7de;border-radius:6px}
.card button{width:100%;margin-top:1.2rem}
details{margin:.4rem 0}summary{cursor:pointer}
@media (max-width:600px){table,thead,tbody,tr,td,th{display:block}tr{border-bottom:1px solid #ddd;padding:.4rem 0}td,th{border:0;padding:.2rem 0}th{display:none}}
"""
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make browsers send Origin: null on our forms
}


FAVICON_PATH = "/favicon.ico"
FAVICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1f6feb"/>'
    b'<path d="M4 12V4l4 4 4-4v8" fill="none" stroke="#fff" stroke-width="1.6"/></svg>'
)
"""Served by every service that shows pages, so a browser's icon request is answered, not a logged 404."""
FAVICON_HEADERS = {"Content-Type": "image/svg+xml", "Cache-Control": "public, max-age=86400"}


def render(title: str, body: str) -> str:
    """The whole document; ``body`` is HTML the caller has already escaped."""
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" type="image/svg+xml" href="{FAVICON_PATH}"><style>{STYLE}</style></head>'
        f"<body>{body}</body></html>"
    )


def message(title: str, text: str, hint: str, links: list[tuple[str, str]]) -> str:
    """A page body saying what happened, what to do, and where to go: ``links`` are (href, label)."""
    anchors = " &middot; ".join(f'<a href="{escape(href)}">{escape(label)}</a>' for href, label in links)
    return (
        f'<h1>{escape(title)}</h1><div class="error"><p id="error">{escape(text)}</p>'
        f'<p id="hint">{escape(hint)}</p></div><p>{anchors}</p>'
    )
