"""The default bridge: outbound NAT, nothing reachable from outside, the hosts files,
NetworkSettings, and nothing left behind (tests run in namespaces of their own: ``networld``)."""

from __future__ import annotations

from networld import OUTSIDE_IP, World

from freight.store import Store

FETCH = f"timeout 5 wget -q -O - http://{OUTSIDE_IP}/hello.txt"


def test_a_container_reaches_the_outside_through_nat(busybox_store: Store, world: World) -> None:
    result = world.freight("run", "--rm", "busybox", "sh", "-c", FETCH)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello from outside\n"
    assert world.leftovers() == {}
