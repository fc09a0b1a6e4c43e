"""The front-door benches run tiny on real servers: every figure they print is a
real number above zero. Nothing about speed is asserted."""

from __future__ import annotations

import math

from loadtests.front_door import front_door_figures
from loadtests.http_join_bench import measure_generator


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def test_generator_alone_answers_every_request() -> None:
    figure = measure_generator(400, 2)
    assert figure.statuses == {200: 400}
    assert math.isfinite(figure.per_s) and figure.per_s > 0
    assert figure.client_cpu_us > 0


def test_front_door_figures_are_real_numbers() -> None:
    lines, summary = front_door_figures(http_joins=200, ws_opens=150, rounds=2, clients=2)

    for key in (
        "http_joins_per_s",
        "http_join_web_cpu_us",
        "http_joins_cpu_bound_per_s",
        "http_generator_per_s",
        "http_generator_cpu_us",
        "http_join_redis_ops",
        "http_join_redis_scripts",
        "ws_opens_per_s",
        "ws_open_web_cpu_us",
        "bytes_per_socket",
    ):
        assert _positive(summary[key]), (key, summary[key])
    assert summary["http_join_errors"] == 0
    joins = [line for line in lines if line["figure"] == "http_joins"]
    assert len(joins) == 2 and all(line["statuses"] == {"200": 200} for line in joins)
    [opens] = [line for line in lines if line["figure"] == "ws_opens"]
    assert opens["opened"] == 150 and opens["first_message"] == {"status": 150}
