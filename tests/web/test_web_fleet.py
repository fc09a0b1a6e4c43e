"""Several stateless web processes behind a real nginx (launch/nginx.py, deploy/).

Round robin, no sticky sessions: a fan's calls and sockets land on any
process and it keeps its place and hears every update; a process killed with
``kill -9`` mid-queue costs its fans a reconnect through nginx to a live one,
nothing more. Which process answered is nginx's ``X-Upstream`` header.
"""

from __future__ import annotations

import asyncio
import os
import signal

import httpx

from launch.fan_socket import ReconnectingSocket, retrying_once
from tests.live_stack import LiveStack
from tests.web.fans import Fan, Message, is_admitted, is_status, open_sale, ticket_type


def organiser(stack: LiveStack, event_id: str, action: str) -> None:
    response = httpx.post(
        f"{stack.base_url}/api/events/{event_id}/{action}",
        headers=stack.organiser_headers,
        timeout=10,
    )
    assert response.status_code == 200, response.text


def paused_sale(stack: LiveStack, rate_per_min: int) -> str:
    """A sale past its draw, paused: fans who join now wait in arrival order.

    One ticket each: the ten tickets let ten fans choose at once.
    """
    one_each = [ticket_type(per_person_limit=1)]
    event_id = open_sale(stack, rate_per_min=rate_per_min, ticket_types=one_each)
    organiser(stack, event_id, "pause")
    return event_id


def web_of(stack: LiveStack, response: httpx.Response) -> str:
    return stack.stack.web_name(response.headers["X-Upstream"])


async def socket_on(fan: Fan, stack: LiveStack, wanted: str) -> ReconnectingSocket:
    """A socket of ``fan`` that nginx sent to the web process ``wanted`` (round robin: soon)."""
    for _ in range(20):
        socket = await ReconnectingSocket(fan).open()
        if stack.stack.web_name(socket.upstreams[-1]) == wanted:
            return socket
        await socket.close()
    raise AssertionError(f"no socket landed on {wanted} in 20 tries")


async def test_a_fan_lands_on_every_process_and_keeps_its_place(fleet: LiveStack) -> None:
    event_id = paused_sale(fleet, rate_per_min=6_000)
    fan = Fan(fleet, event_id)
    joined = await fan.post_join()
    assert joined.status_code == 200, joined.text
    number = joined.json()["number"]
    assert number >= 1

    # Its HTTP calls (a reload's join is idempotent) go round the processes.
    answered_by = {web_of(fleet, joined)}
    for _ in range(6):
        again = await fan.post_join()
        assert again.status_code == 200, again.text
        assert again.json()["number"] == number
        answered_by.add(web_of(fleet, again))
    assert answered_by == set(fleet.stack.web_ports)

    # So do its sockets, one after another: each gives the same place back.
    sockets_on: set[str] = set()
    for _ in range(6):
        socket = await ReconnectingSocket(fan).open()
        status = await socket.next(is_status())
        assert (status["state"], status["number"]) == ("queued", number), status
        sockets_on.add(fleet.stack.web_name(socket.upstreams[-1]))
        await socket.close()
    assert sockets_on == set(fleet.stack.web_ports)

    # Admitted while its socket is on the process that did not answer its last
    # join: the update reaches it all the same, and a second fan on the other.
    last_join = await fan.post_join()
    other = next(name for name in fleet.stack.web_ports if name != web_of(fleet, last_join))
    socket = await socket_on(fan, fleet, other)
    second = Fan(fleet, event_id)
    assert (await second.post_join()).status_code == 200
    second_socket = await socket_on(second, fleet, web_of(fleet, last_join))
    try:
        organiser(fleet, event_id, "resume")
        admitted = await socket.next(is_admitted, timeout=10)
        assert admitted["number"] == number
        assert (await second_socket.next(is_admitted, timeout=10))["number"] > number
        assert socket.reconnects == 0 and second_socket.reconnects == 0
    finally:
        await socket.close()
        await second_socket.close()


async def _queued(fan: Fan, stack: LiveStack, web: str) -> tuple[int, ReconnectingSocket]:
    """The fan joined, with its socket on the web process ``web``; its number."""
    joined = await fan.post_join()
    assert joined.status_code == 200, joined.text
    socket = await socket_on(fan, stack, web)
    status = await socket.next(is_status())
    assert status["state"] == "queued", status
    return status["number"], socket


async def test_killing_a_web_process_mid_queue_costs_its_fans_a_reconnect(
    fleet: LiveStack,
) -> None:
    fans_count = 10
    # One a second (after the few the first tick lets in): the kill lands
    # while most fans still wait.
    event_id = paused_sale(fleet, rate_per_min=60)
    fans = [Fan(fleet, event_id) for _ in range(fans_count)]
    webs = sorted(fleet.stack.web_ports)
    # Half the fans' sockets on each process.
    places = [await _queued(fan, fleet, webs[i % len(webs)]) for i, fan in enumerate(fans)]
    numbers = [number for number, _ in places]
    sockets = [socket for _, socket in places]
    assert numbers == sorted(numbers) and len(set(numbers)) == fans_count
    on = [fleet.stack.web_name(socket.upstreams[-1]) for socket in sockets]
    victim = "web-1"
    assert set(on) == set(fleet.stack.web_ports), on  # fans on both processes

    admissions: dict[int, Message] = {}

    async def wait_admitted(index: int) -> None:
        admissions[index] = await sockets[index].next(is_admitted, timeout=30)

    organiser(fleet, event_id, "resume")
    waiting = [asyncio.create_task(wait_admitted(i)) for i in range(fans_count)]
    try:
        await asyncio.wait_for(asyncio.shield(waiting[0]), timeout=20)
        os.kill(fleet.stack.processes[victim].pid, signal.SIGKILL)
        fleet.stack.processes[victim].wait()
        # What the dead process sent before it died may still sit unread in a
        # socket's buffer: let every victim's socket read to its end (an
        # admission or the close) before telling who was let in before.
        victims = [i for i in range(fans_count) if on[i] == victim]

        async def read_to_the_end() -> None:
            while not all(i in admissions or sockets[i].closes for i in victims):
                await asyncio.sleep(0.05)

        await asyncio.wait_for(read_to_the_end(), timeout=10)
        let_in_before = {i for i in admissions if sockets[i].reconnects == 0}

        # Every fan reloads too (a join): answered, retried once at most, same number.
        failed_first = 0
        for fan, number in zip(fans, numbers, strict=True):
            answer, first = await retrying_once(fan.post_join)
            failed_first += first is not None
            assert answer.status_code == 200, (answer.status_code, answer.text)
            assert answer.json()["number"] == number
            assert web_of(fleet, answer) != victim
        await asyncio.gather(*waiting)
    finally:
        for task in waiting:
            task.cancel()
        for socket in sockets:
            await socket.close()

    for index, socket in enumerate(sockets):
        assert admissions[index]["number"] == numbers[index]
        # Every socket status the fan saw, before and after a reconnect, had its number.
        assert {m["number"] for m in socket.seen if m.get("t") == "status"} == {numbers[index]}
        if on[index] == victim and index not in let_in_before:
            assert socket.reconnects >= 1, (index, socket.closes)
            assert victim not in {fleet.stack.web_name(u) for u in socket.upstreams[1:]}
    cut_off = [i for i in range(fans_count) if on[i] == victim and i not in let_in_before]
    assert len(cut_off) >= 2, (on, let_in_before)
    # Let in in the order of their numbers: each admission's deadline is its
    # moment of admission plus the same window.
    deadlines = [admissions[i]["admission"]["deadline_ms"] for i in range(fans_count)]
    assert deadlines == sorted(deadlines), deadlines
    # Shown with -s: how the kill fell, and how many fans' first call failed.
    print(f"let in before: {sorted(let_in_before)}; cut off: {cut_off}; failed: {failed_first}")

    # Started again, the process takes its share once more: nginx tries it
    # again once its fail_timeout (10 s) after the refusals has passed.
    fleet.stack.restart(victim)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    answered_by = ""
    while answered_by != victim and loop.time() < deadline:
        response = await fans[0].post_join()
        assert response.status_code == 200, response.text
        answered_by = web_of(fleet, response)
        await asyncio.sleep(0.2)
    assert answered_by == victim


def test_a_body_over_the_cap_gets_fairdrops_json_error_through_nginx(fleet: LiveStack) -> None:
    """nginx lets a body a little over FAIRDROP_MAX_BODY_BYTES through, so the
    web process names the problem in JSON; nginx stops only far larger ones."""
    cap = fleet.settings.max_body_bytes
    url = f"{fleet.base_url}/api/events"
    over = httpx.post(
        url,
        content=b"{" + b" " * cap + b"}",
        headers={**fleet.organiser_headers, "Content-Type": "application/json"},
        timeout=10,
    )
    assert over.status_code == 413, over.text
    assert over.json()["error"]["code"] == "body_too_large"
    far_over = httpx.post(url, content=b" " * (3 * cap), headers=fleet.organiser_headers)
    assert far_over.status_code == 413  # nginx's own page: never reaches a web process
