"""List filters (v3 multi-valued, exact, any-of) and pagination (limit/marker/page_reverse)."""

from __future__ import annotations

from typing import Any

import pytest
from cp_helpers import DEDICATED, pool
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkelb import v2 as sdk2
from huaweicloudsdkelb import v3 as sdk


@pytest.fixture
def five_pools(v3: Any) -> list[str]:
    return [pool(v3, lb_id=DEDICATED, name=f"p{i}").id for i in range(5)]


def test_multi_valued_filters_are_exact_any_of(v3: Any, five_pools: list[str]) -> None:
    found = v3.list_pools(sdk.ListPoolsRequest(name=["p1", "p3", "p"])).pools
    assert [p.name for p in found] == ["p1", "p3"]
    both = v3.list_pools(sdk.ListPoolsRequest(name=["p1", "p3"], id=[five_pools[3]])).pools
    assert [p.id for p in both] == [five_pools[3]]


def test_pages_forward_in_creation_order(v3: Any, five_pools: list[str]) -> None:
    first = v3.list_pools(sdk.ListPoolsRequest(limit=2))
    assert [p.id for p in first.pools] == five_pools[:2]
    assert first.page_info.current_count == 2
    assert (first.page_info.previous_marker, first.page_info.next_marker) == (
        five_pools[0],
        five_pools[1],
    )
    seen, marker = [], None
    while True:
        page = v3.list_pools(sdk.ListPoolsRequest(limit=2, marker=marker))
        seen += [p.id for p in page.pools]
        if len(page.pools) < 2:
            break
        marker = page.page_info.next_marker
    assert seen == five_pools


def test_page_reverse_fetches_the_previous_page(v3: Any, five_pools: list[str]) -> None:
    request = sdk.ListPoolsRequest(limit=2, marker=five_pools[4], page_reverse=True)
    assert [p.id for p in v3.list_pools(request).pools] == five_pools[2:4]


def test_invalid_marker_is_400(v3: Any, five_pools: list[str]) -> None:
    with pytest.raises(ClientRequestException) as info:
        v3.list_pools(sdk.ListPoolsRequest(limit=2, marker="no-such-id"))
    assert (info.value.status_code, info.value.error_code) == (400, "ELB.8902")


def test_empty_page_info(v3: Any) -> None:
    page = v3.list_listeners(sdk.ListListenersRequest(name=["nothing"]))
    assert page.listeners == [] and page.page_info.current_count == 0


def test_v2_scalar_filters_and_limit(v2: Any, v3: Any, five_pools: list[str]) -> None:
    assert [p.id for p in v2.list_pools(sdk2.ListPoolsRequest(name="p2")).pools] == [five_pools[2]]
    page = v2.list_pools(sdk2.ListPoolsRequest(limit=3, marker=five_pools[0])).pools
    assert [p.id for p in page] == five_pools[1:4]
