"""The `links` and `meta` Laravel (8 to 12.22) writes for a paginated JSON resource."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote, urlencode

ON_EACH_SIDE = 3  # AbstractPaginator::$onEachSide, which the JSON resource never changes
GAP = "..."
# Laravel's __() returns the key itself when no translation is loaded, as in the seed document.
PREVIOUS_LABEL = "pagination.previous"
NEXT_LABEL = "pagination.next"


def last_page(total: int, per_page: int) -> int:
    """The number of pages: at least one, even for no rows."""
    # Integer ceiling: PHP divides in floats, which only differs beyond 2**53 rows.
    return max(-(-total // per_page), 1)


def page_window(page: int, last: int, *, on_each_side: int = ON_EACH_SIDE) -> list[int | None]:
    """Laravel's UrlWindow: the page numbers its links show, None where it puts `...`."""
    if last < on_each_side * 2 + 8:
        return list(range(1, last + 1))
    # From here on last >= 8, so UrlWindow's "no pages" branch (last <= 1) cannot happen.
    window = on_each_side + 4
    tail = [last - 1, last]
    if page <= window:
        return [*range(1, window + on_each_side + 1), None, *tail]
    if page > last - window:
        return [1, 2, None, *range(last - (window + on_each_side - 1), last + 1)]
    return [1, 2, None, *range(page - on_each_side, page + on_each_side + 1), None, *tail]


def page_url(path: str, query: Sequence[tuple[str, str]], page: int) -> str:
    """AbstractPaginator::url: the path, the other parameters in order, then `page` last."""
    # Arr::query is http_build_query(..., PHP_QUERY_RFC3986), i.e. rawurlencode: a space is %20,
    # only A-Z a-z 0-9 - _ . ~ stay as they are; quote(safe="") encodes exactly the same set.
    encoded = urlencode([*query, ("page", str(max(page, 1)))], quote_via=quote, safe="")
    return f"{path}{'&' if '?' in path else '?'}{encoded}"


def _link(url: str | None, label: str, *, active: bool = False) -> dict[str, Any]:
    return {"url": url, "label": label, "active": active}


def _link_list(
    page: int, last: int, url: Callable[[int], str], prev: str | None, next_: str | None
) -> list[dict[str, Any]]:
    """LengthAwarePaginator::linkCollection: previous, the window, next."""
    window = [
        _link(None, GAP) if n is None else _link(url(n), str(n), active=n == page)
        for n in page_window(page, last)
    ]
    return [_link(prev, PREVIOUS_LABEL), *window, _link(next_, NEXT_LABEL)]


def paginator_envelope(
    *, path: str, query: Sequence[tuple[str, str]], page: int, per_page: int, total: int, count: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Laravel's `links` and `meta` for one page of a length-aware paginator."""
    # Laravel would quietly turn page < 1 into 1; callers validate first, so a bad value is a bug.
    if page < 1 or per_page < 1 or total < 0 or count < 0:
        raise ValueError(f"bad page {page}, per_page {per_page}, total {total} or count {count}")
    path = path if path == "/" else path.rstrip("/")  # the constructor trims trailing slashes

    # Every link is the same url but for the page number, last: encode the rest once.
    prefix = page_url(path, query, 1).removesuffix("1")

    def url(n: int) -> str:
        return f"{prefix}{max(n, 1)}"

    last = last_page(total, per_page)
    prev = url(page - 1) if page > 1 else None
    next_ = url(page + 1) if page < last else None
    first = (page - 1) * per_page + 1 if count else None  # firstItem/lastItem: null when empty
    links = {"first": url(1), "last": url(last), "prev": prev, "next": next_}
    meta = {
        "current_page": page,
        "from": first,
        "last_page": last,
        "links": _link_list(page, last, url, prev, next_),
        "path": path,
        "per_page": per_page,
        "to": None if first is None else first + count - 1,
        "total": total,
    }
    return links, meta
