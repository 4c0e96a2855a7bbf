"""The frame every page shares: a header with the app's links and the user, a
stretchy body that never grows wider than the screen, and error messages.

Panel is imported by the functions here, which only page builders call.

>>> frame("Search", [body], user="ana")          # doctest: +SKIP
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

#: keeps everything inside the viewport: flex children may shrink, media scale
PAGE_CSS = """
:host { max-width: 100%; box-sizing: border-box; }
"""
HEADER_CSS = """
.vx-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 16px;
  padding: 6px 12px; background: #1f3b57; color: #fff; font-family: sans-serif; }
.vx-head a { color: #fff; text-decoration: none; font-size: 15px; }
.vx-head a.vx-here { font-weight: bold; text-decoration: underline; }
.vx-head .vx-brand { font-weight: bold; font-size: 17px; margin-right: 8px; }
.vx-head .vx-user { margin-left: auto; font-size: 13px; }
.vx-head .vx-user a { font-size: 13px; text-decoration: underline; margin-left: 8px; }
"""
#: relative links: the pages are siblings under the server's base URL
LINKS = (("search", "Search", "search"), ("dashboard", "Dashboard", "dashboard"))


def who(user: str | None, role: str | None = None) -> str:
    """The header's account part (HTML): the name, the role and a link to log out; a
    server without logins (the local user, as behind jupyter-server-proxy) says so.

    >>> who("ana", "viewer")
    'logged in as <b>ana</b> (viewer)<a href="logout">Log out</a>'
    >>> who(None)
    'local user (no login)'
    """
    if not user:
        return "local user (no login)"
    role_text = f" ({html.escape(role)})" if role else ""
    return f'logged in as <b>{html.escape(user)}</b>{role_text}<a href="logout">Log out</a>'


def header(here: str, user: str | None, role: str | None = None) -> Any:
    """The top bar: brand, links to the search and dashboard pages, who is logged in
    (their role when known) and a link to log out."""
    import panel as pn

    links = "".join(
        f'<a class="{"vx-here" if key == here else ""}" href="{href}">{label}</a>'
        for key, label, href in LINKS
    )
    return pn.pane.HTML(
        f'<nav class="vx-head"><span class="vx-brand">voxcat</span>{links}'
        f'<span class="vx-user">{who(user, role)}</span></nav>',
        sizing_mode="stretch_width",
        stylesheets=[HEADER_CSS],
        margin=0,
    )


def history() -> Any:
    """An invisible component that reloads the page when the browser's Back or
    Forward button changes the URL a page pushed (so the view follows the URL)."""
    import panel as pn

    class History(pn.custom.JSComponent):
        _esm = """
        export function render({ el }) {
          const reload = () => window.location.reload();
          window.addEventListener("popstate", reload);
          el.style.display = "none";
          return () => window.removeEventListener("popstate", reload);
        }
        """

    return History(height=0, width=0, margin=0, visible=True)


def frame(here: str, body: Sequence[Any], user: str | None, role: str | None = None) -> Any:
    """A page: the header above ``body``, stretched to the window's width."""
    import panel as pn

    return pn.Column(
        header(here, user, role),
        history(),
        *body,
        sizing_mode="stretch_width",
        stylesheets=[PAGE_CSS],
        margin=0,
        css_classes=[f"vx-page-{here}"],
    )


def message(text: str, kind: str = "danger") -> Any:
    """A visible message box (``kind``: ``danger``, ``warning``, ``info``); the text is
    escaped (it may quote what a user typed)."""
    import panel as pn

    return pn.pane.Alert(html.escape(text), alert_type=kind, sizing_mode="stretch_width")


def error_page(here: str, text: str, user: str | None) -> Any:
    """A page that only says what went wrong."""
    return frame(here, [message(text)], user)


def holoviews() -> Any:
    """``holoviews`` with its Bokeh plotting loaded (needed before ``.opts``)."""
    import holoviews as hv
    import holoviews.plotting.bokeh

    return hv
