"""A fan's place in a sale: joining (idempotent) and reading it back."""

from __future__ import annotations

from dataclasses import dataclass

from queue_engine.scripts import AsyncScripts, SyncScripts


@dataclass(frozen=True)
class Entry:
    """What join.lua answers: the same for every join of one fan."""

    status: str  # unknown_event | not_open | buffered | queued | sold_out
    number: int  # 0 while buffered, before the draw
    serving: int
    deadline_ms: int  # admission deadline once admitted, else 0
    hold_id: str
    tickets: int  # held or bought by this fan, all types together

    @property
    def admitted(self) -> bool:
        return self.number > 0 and self.number <= self.serving and self.deadline_ms > 0


def parse_entry(raw: list[object]) -> Entry:
    def text(v: object) -> str:
        return v.decode() if isinstance(v, bytes) else str(v)

    return Entry(
        text(raw[0]), int(text(raw[1])), int(text(raw[2])), int(text(raw[3])), text(raw[4])
    )


async def join(scripts: AsyncScripts, event_id: str, fan_id: str) -> Entry:
    return parse_entry(await scripts.run("join", event_id, 0, fan_id))


def join_sync(scripts: SyncScripts, event_id: str, fan_id: str, now_ms: int = 0) -> Entry:
    return parse_entry(scripts.run("join", event_id, now_ms, fan_id))
