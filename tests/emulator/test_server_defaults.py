"""What the real API fills in and how it binds pools (docs/api-notes.md §10.2)."""

from __future__ import annotations

from typing import Any

import pytest
from cp_helpers import DEDICATED, SHARED, https_listener, pool, server_cert
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkelb import v2 as sdk2
from huaweicloudsdkelb import v3 as sdk


def create_pool(v3: Any, protocol: str, persistence: Any, **extra: Any) -> Any:
    option = sdk.CreatePoolOption(
        lb_algorithm="ROUND_ROBIN",
        protocol=protocol,
        loadbalancer_id=extra.pop("lb_id", DEDICATED),
        session_persistence=persistence,
        **extra,
    )
    return v3.create_pool(sdk.CreatePoolRequest(body=sdk.CreatePoolRequestBody(pool=option))).pool


def update_listener(v3: Any, listener_id: str, **fields: Any) -> Any:
    body = sdk.UpdateListenerRequestBody(listener=sdk.UpdateListenerOption(**fields))
    request = sdk.UpdateListenerRequest(listener_id=listener_id, body=body)
    return v3.update_listener(request).listener


# --------------------------------------------------------------------------- session persistence


def test_persistence_timeout_and_cookie_name_are_filled_by_the_server(v3: Any) -> None:
    http = create_pool(v3, "HTTP", sdk.CreatePoolSessionPersistenceOption(type="HTTP_COOKIE"))
    sp = http.session_persistence
    assert (sp.type, sp.persistence_timeout, sp.cookie_name) == ("HTTP_COOKIE", 1440, "")
    tcp = create_pool(v3, "TCP", sdk.CreatePoolSessionPersistenceOption(type="SOURCE_IP"))
    assert tcp.session_persistence.persistence_timeout == 1


def test_updating_persistence_fills_the_same_defaults(v3: Any) -> None:
    created = create_pool(v3, "HTTP", None)
    assert created.session_persistence is None
    option = sdk.UpdatePoolOption(
        session_persistence=sdk.UpdatePoolSessionPersistenceOption(type="SOURCE_IP")
    )
    request = sdk.UpdatePoolRequest(pool_id=created.id, body=sdk.UpdatePoolRequestBody(pool=option))
    sp = v3.update_pool(request).pool.session_persistence
    assert (sp.persistence_timeout, sp.cookie_name) == (1440, "")


def test_persistence_timeout_ranges_follow_the_pool_protocol(v3: Any) -> None:
    too_long = sdk.CreatePoolSessionPersistenceOption(type="SOURCE_IP", persistence_timeout=61)
    with pytest.raises(ClientRequestException) as info:
        create_pool(v3, "TCP", too_long)
    assert (info.value.status_code, info.value.error_code) == (400, "ELB.8902")
    assert create_pool(v3, "HTTP", too_long).session_persistence.persistence_timeout == 61


def test_v2_pools_get_the_same_defaults(v2: Any) -> None:
    option = sdk2.CreatePoolReq(
        lb_algorithm="ROUND_ROBIN",
        protocol="HTTP",
        loadbalancer_id=SHARED,
        session_persistence=sdk2.SessionPersistence(type="HTTP_COOKIE"),
    )
    created = v2.create_pool(sdk2.CreatePoolRequest(body=sdk2.CreatePoolRequestBody(pool=option)))
    assert created.pool.session_persistence.persistence_timeout == 1440


# --------------------------------------------------------------------------- insert_headers


def test_x_forwarded_host_is_on_by_default_on_web_listeners(v3: Any, pki: Any) -> None:
    listener = https_listener(v3, server_cert(v3, pki).id)
    assert listener.insert_headers.x_forwarded_host is True
    option = sdk.CreateListenerOption(loadbalancer_id=DEDICATED, protocol="TCP", protocol_port=9000)
    tcp = v3.create_listener(
        sdk.CreateListenerRequest(body=sdk.CreateListenerRequestBody(listener=option))
    ).listener
    assert tcp.insert_headers is None or tcp.insert_headers.x_forwarded_host is not True


def test_insert_headers_updates_merge_so_only_false_switches_a_header_off(
    v3: Any, pki: Any
) -> None:
    listener = https_listener(v3, server_cert(v3, pki).id)
    on = update_listener(
        v3, listener.id, insert_headers=sdk.ListenerInsertHeaders(x_forwarded_elb_ip=True)
    )
    assert on.insert_headers.x_forwarded_elb_ip is True
    assert on.insert_headers.x_forwarded_host is True  # not sent: kept
    only_other = update_listener(
        v3, listener.id, insert_headers=sdk.ListenerInsertHeaders(x_real_ip=True)
    )
    assert only_other.insert_headers.x_forwarded_elb_ip is True  # omission is not "off"
    off = update_listener(
        v3,
        listener.id,
        insert_headers=sdk.ListenerInsertHeaders(x_forwarded_elb_ip=False, x_forwarded_host=False),
    )
    assert off.insert_headers.x_forwarded_elb_ip is False
    assert off.insert_headers.x_forwarded_host is False


# --------------------------------------------------------------------------- one pool per listener


def test_a_listener_with_a_pool_refuses_a_second_pool_by_listener_id(v3: Any, pki: Any) -> None:
    listener = https_listener(v3, server_cert(v3, pki).id)
    pool(v3, listener_id=listener.id)
    with pytest.raises(ClientRequestException) as info:
        pool(v3, listener_id=listener.id, name="replacement")
    assert info.value.status_code == 409
    assert len(v3.list_pools(sdk.ListPoolsRequest()).pools) == 1


def test_a_pool_replacement_switches_default_pool_in_one_update(v3: Any, pki: Any) -> None:
    listener = https_listener(v3, server_cert(v3, pki).id)
    old = pool(v3, listener_id=listener.id)
    new = pool(v3, lb_id=DEDICATED, protocol="HTTPS", name="replacement")
    assert new.listeners == []
    switched = update_listener(v3, listener.id, default_pool_id=new.id)
    assert switched.default_pool_id == new.id
    shown_old = v3.show_pool(sdk.ShowPoolRequest(pool_id=old.id)).pool
    shown_new = v3.show_pool(sdk.ShowPoolRequest(pool_id=new.id)).pool
    assert shown_old.listeners == [] and [x.id for x in shown_new.listeners] == [listener.id]
    listed = v3.list_pools(sdk.ListPoolsRequest(listener_id=[listener.id])).pools
    assert [p.id for p in listed] == [new.id]
    v3.delete_pool(sdk.DeletePoolRequest(pool_id=old.id))
    shown = v3.show_listener(sdk.ShowListenerRequest(listener_id=listener.id)).listener
    assert shown.default_pool_id == new.id  # deleting the old pool leaves the new binding


def test_a_freed_listener_accepts_a_pool_by_listener_id_again(v3: Any, pki: Any) -> None:
    listener = https_listener(v3, server_cert(v3, pki).id)
    first = pool(v3, listener_id=listener.id)
    spare = pool(v3, lb_id=DEDICATED, name="spare")
    update_listener(v3, listener.id, default_pool_id=spare.id)
    v3.delete_pool(sdk.DeletePoolRequest(pool_id=spare.id))
    # The first pool still names the listener nowhere: the binding is the listener's.
    assert v3.show_pool(sdk.ShowPoolRequest(pool_id=first.id)).pool.listeners == []
    again = pool(v3, listener_id=listener.id, name="again")
    assert [x.id for x in again.listeners] == [listener.id]
