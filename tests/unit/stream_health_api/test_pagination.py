import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_health_api.pagination import page_url, paginator_envelope

PATH = "https://vms.local/api/admin/v1/streams/inactive"
QUERY = (("per_page", "15"), ("condition", "incorrect"))
SEED_URL = f"{PATH}?per_page=15&condition=incorrect&page="


def _envelope(
    *,
    page: int,
    total: int,
    count: int,
    per_page: int = 15,
    path: str = PATH,
    query: tuple[tuple[str, str], ...] = QUERY,
) -> tuple[dict[str, Any], dict[str, Any]]:
    return paginator_envelope(
        path=path, query=query, page=page, per_page=per_page, total=total, count=count
    )


def _labels(meta: dict[str, Any]) -> list[str]:
    return [link["label"] for link in meta["links"]]


def _window(meta: dict[str, Any]) -> list[int | str]:
    # The window only: previous and next are always the first and last entries.
    return [int(label) if label.isdigit() else label for label in _labels(meta)[1:-1]]


def _active(meta: dict[str, Any]) -> list[str]:
    return [link["label"] for link in meta["links"] if link["active"]]


def test_reproduces_the_seed_document_key_for_key_and_in_order() -> None:
    links, meta = _envelope(page=1, total=128, count=15)

    expected_links = {
        "first": f"{SEED_URL}1",
        "last": f"{SEED_URL}9",
        "prev": None,
        "next": f"{SEED_URL}2",
    }
    expected_meta = {
        "current_page": 1,
        "from": 1,
        "last_page": 9,
        "links": [
            {"url": None, "label": "pagination.previous", "active": False},
            *({"url": f"{SEED_URL}{n}", "label": str(n), "active": n == 1} for n in range(1, 10)),
            {"url": f"{SEED_URL}2", "label": "pagination.next", "active": False},
        ],
        "path": PATH,
        "per_page": 15,
        "to": 15,
        "total": 128,
    }
    # json.dumps keeps key order, which == on dicts ignores; the wire shows the order.
    assert json.dumps(links) == json.dumps(expected_links)
    assert json.dumps(meta) == json.dumps(expected_meta)


def test_an_empty_result_is_one_empty_page() -> None:
    links, meta = _envelope(page=1, total=0, count=0)

    assert links == {"first": f"{SEED_URL}1", "last": f"{SEED_URL}1", "prev": None, "next": None}
    assert (meta["current_page"], meta["last_page"]) == (1, 1)
    assert (meta["from"], meta["to"], meta["total"]) == (None, None, 0)
    assert meta["links"] == [
        {"url": None, "label": "pagination.previous", "active": False},
        {"url": f"{SEED_URL}1", "label": "1", "active": True},
        {"url": None, "label": "pagination.next", "active": False},
    ]


def test_the_last_page_may_be_partial() -> None:
    links, meta = _envelope(page=9, total=128, count=8)

    assert (links["prev"], links["next"]) == (f"{SEED_URL}8", None)
    assert (meta["from"], meta["to"], meta["last_page"]) == (121, 128, 9)
    assert meta["links"][0]["url"] == f"{SEED_URL}8"
    assert meta["links"][-1]["url"] is None
    assert _active(meta) == ["9"]


def test_a_page_beyond_the_last_is_empty_and_still_links_back() -> None:
    links, meta = _envelope(page=12, total=128, count=0)

    # previousPageUrl only checks page > 1, so it points at page 11, which is empty too.
    assert links == {
        "first": f"{SEED_URL}1",
        "last": f"{SEED_URL}9",
        "prev": f"{SEED_URL}11",
        "next": None,
    }
    assert (meta["current_page"], meta["from"], meta["to"], meta["last_page"]) == (
        12,
        None,
        None,
        9,
    )
    assert _window(meta) == list(range(1, 10))
    assert _active(meta) == []


def test_parameters_are_encoded_like_arr_query_and_kept_in_request_order() -> None:
    query = (("search", "a b&c=d"), ("domain", "кам.example"), ("ip", "~x/y+z%"))

    links, _ = _envelope(page=1, total=40, count=15, query=query)

    # rawurlencode (PHP_QUERY_RFC3986): space is %20 not +, ~ is kept, UTF-8 bytes are escaped.
    assert links["next"] == (
        f"{PATH}?search=a%20b%26c%3Dd&domain=%D0%BA%D0%B0%D0%BC.example&ip=~x%2Fy%2Bz%25&page=2"
    )


def test_no_other_parameters_leaves_page_alone() -> None:
    links, _ = _envelope(page=2, total=40, count=15, query=())

    assert (links["prev"], links["next"]) == (f"{PATH}?page=1", f"{PATH}?page=3")


@pytest.mark.parametrize(
    ("path", "expected_path", "expected_next"),
    [
        (f"{PATH}/", PATH, f"{SEED_URL}2"),  # the constructor rtrims "/"
        ("/", "/", "/?per_page=15&condition=incorrect&page=2"),  # ...except from the root itself
        (f"{PATH}?x=1", f"{PATH}?x=1", f"{PATH}?x=1&per_page=15&condition=incorrect&page=2"),
    ],
)
def test_path_is_trimmed_and_may_already_carry_a_query(
    path: str, expected_path: str, expected_next: str
) -> None:
    links, meta = _envelope(page=1, total=40, count=15, path=path)

    assert (meta["path"], links["next"]) == (expected_path, expected_next)


@pytest.mark.parametrize(
    ("last", "page", "expected"),
    [
        (1, 1, [1]),  # a single page: small slider
        (13, 7, list(range(1, 14))),  # 13 < 3 * 2 + 8: small slider, every page
        (14, 1, [*range(1, 11), "...", 13, 14]),  # 14 pages: first length that slides
        (14, 7, [*range(1, 11), "...", 13, 14]),  # 7 <= window (3 + 4): still the beginning
        (14, 8, [1, 2, "...", *range(5, 15)]),  # 8 > 14 - 7: straight to the ending
        (14, 14, [1, 2, "...", *range(5, 15)]),  # the ending: last - (7 + 2) .. last
        (15, 8, [1, 2, "...", *range(5, 12), "...", 14, 15]),  # first length with a full slider
        (100, 1, [*range(1, 11), "...", 99, 100]),  # beginning: 1 .. window + 3, then the tail
        (100, 7, [*range(1, 11), "...", 99, 100]),  # last page of the beginning
        (100, 8, [1, 2, "...", *range(5, 12), "...", 99, 100]),  # first full slider: page +- 3
        (100, 50, [1, 2, "...", *range(47, 54), "...", 99, 100]),  # full slider in the middle
        (100, 93, [1, 2, "...", *range(90, 97), "...", 99, 100]),  # 93 is not > 100 - 7: full
        (100, 94, [1, 2, "...", *range(91, 101)]),  # 94 > 93: the ending, 91 .. 100
        (100, 100, [1, 2, "...", *range(91, 101)]),  # the last page: still the ending
        (100, 101, [1, 2, "...", *range(91, 101)]),  # beyond the last: ending, nothing active
    ],
)
def test_the_window_follows_laravels_url_window(
    last: int, page: int, expected: list[int | str]
) -> None:
    _, meta = _envelope(page=page, per_page=10, total=last * 10, count=10 if page <= last else 0)

    assert meta["last_page"] == last
    assert _window(meta) == expected
    assert _active(meta) == ([str(page)] if page <= last else [])


def test_gaps_have_no_url_and_pages_link_to_themselves() -> None:
    _, meta = _envelope(page=50, per_page=10, total=1000, count=10, query=())

    for link in meta["links"][1:-1]:
        if link["label"] == "...":
            assert link == {"url": None, "label": "...", "active": False}
        else:
            assert link["url"] == f"{PATH}?page={link['label']}"


@pytest.mark.parametrize(
    "bad",
    [{"page": 0}, {"page": -1}, {"per_page": 0}, {"total": -1}, {"count": -1}],
)
def test_impossible_numbers_are_refused(bad: dict[str, int]) -> None:
    numbers = {"page": 1, "per_page": 15, "total": 10, "count": 10} | bad

    with pytest.raises(ValueError, match="bad page"):
        paginator_envelope(path=PATH, query=(), **numbers)


@st.composite
def _pages(draw: st.DrawFn) -> tuple[int, int, int]:
    total = draw(st.integers(0, 20_000))
    per_page = draw(st.integers(1, 100))
    last = max(-(-total // per_page), 1)
    # Pages up to a little past the last, where nothing may be active.
    return total, per_page, draw(st.integers(1, last + 3))


@settings(max_examples=300)
@given(_pages())
def test_the_links_are_always_well_formed(case: tuple[int, int, int]) -> None:
    total, per_page, page = case
    count = max(0, min(per_page, total - (page - 1) * per_page))

    _, meta = _envelope(page=page, per_page=per_page, total=total, count=count, query=())

    last = meta["last_page"]
    labels = _labels(meta)
    assert (labels[0], labels[-1]) == ("pagination.previous", "pagination.next")
    numbers = [int(label) for label in labels[1:-1] if label != "..."]
    assert all(a < b for a, b in itertools.pairwise(numbers))
    assert (numbers[0], numbers[-1]) == (1, last)
    assert _active(meta) == ([str(page)] if 1 <= page <= last else [])
    assert all(pair != ("...", "...") for pair in itertools.pairwise(labels))
    assert (meta["from"] is None) == (meta["to"] is None) == (count == 0)
    if meta["to"] is not None:
        assert 1 <= meta["from"] <= meta["to"] <= total


@given(
    query=st.lists(st.tuples(st.text(max_size=5), st.text(max_size=5)), max_size=4),
    path=st.sampled_from([PATH, f"{PATH}?x=1", "/", "https://h/a b/"]),
    page=st.integers(min_value=1, max_value=40),
    total=st.integers(min_value=0, max_value=600),
)
def test_every_link_is_the_page_url_of_its_page(
    query: list[tuple[str, str]], path: str, page: int, total: int
) -> None:
    links, meta = _envelope(page=page, total=total, count=0, query=tuple(query), path=path)
    trimmed = path if path == "/" else path.rstrip("/")

    pages = {"first": 1, "last": meta["last_page"], "prev": page - 1, "next": page + 1}
    for name, n in pages.items():
        assert links[name] in (None, page_url(trimmed, query, n)), name
    for link in meta["links"]:
        if link["label"].isdigit():
            assert link["url"] == page_url(trimmed, query, int(link["label"]))
