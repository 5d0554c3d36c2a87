"""Attendance: who was in a meeting and for how long, from provider events and reports.

Pure domain code (stdlib and `service.domain` only). `compute_attendance` implements SPEC
"Attendance semantics" to the second. The choices the SPEC leaves open, made here once:

- Order independence. Events are deduplicated by `event_key` (when two deliveries of one key
  differ, the smallest by a total order over all their fields wins, not the first to arrive)
  and sorted by (occurred_at, type, event_key, ...) into one canonical sequence. Every later
  step depends only on the values in it (times, keys, names; ties broken by value), so any
  delivery order and any number of redeliveries give the identical record.
- Pairing joins with leaves, per participant. First by `session_key`: a keyed leave closes a
  join of the same key. What is left (no key, or no counterpart with the key) is paired
  greedily in time order: each leave closes the earliest still-open join at or before it,
  never pairing two different keys. A leave that finds no open join invents no time; it only
  moves `last_leave`. A join and a leave at the same instant make a zero-length session, which
  is dropped from the list. Which join a leave closes does not change a participant's total:
  while every leave closes some join, the number of open sessions at any instant is (joins so
  far - leaves so far) either way, and the total is the length of their union.
- A session still open is closed at the meeting's end when the meeting has ended; while it is
  live the session stays open (`left_at` None) and counts up to `as_of`.
- The provider's post-meeting report, when given, is complete: its rows replace the webhook
  sessions of every participant it names. Participants seen only in webhooks keep theirs.
- The meeting's span: the earliest start and the latest end the provider told of, by event or
  report (a meeting restarted on the provider has several instances; its report spans them all).
- Identity, when providers hide it (Zoom hides the e-mail of anyone outside the host's account).
  Each sighting (event or report row) is matched, in this order, by: its e-mail; its registrant
  id through the meeting's registrations; its provider participant id, when that id came with an
  identity anywhere else (event or report row); its display name against the invitees' names
  (case-, accent- and spacing-insensitive, and only a name that belongs to exactly one invitee).
  How the person was matched is kept (`identified_by`). Sightings that match no invitee are
  joined when they share a provider participant id, or a display name within one instance (a
  guest whose id changes on every rejoin). A sighting matched to one invitee is never joined to
  another: only unmatched sightings are joined with each other.
- Waiting rooms: time spent waiting to be admitted is not attendance. It is its own figure per
  participant (`waiting_seconds`), from waiting-room events or the report's waiting rows.
- A meeting known to be over whose end the provider never told (its `meeting.ended` lost, no
  report) closes its open sessions at `closes_at` (the caller's planned end), never "up to now".
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from service.domain.events import (
    PARTICIPANT_EVENT_TYPES,
    AttendanceEvent,
    EventType,
    ParticipantIdentity,
)
from service.domain.meeting import Classification, CompanyDomains, require_utc
from service.domain.reports import AttendanceReport, ReportedSession

_ONE_SECOND = timedelta(seconds=1)

# Within one instant the canonical sequence reads as the meeting happened: it opens, people
# join, people leave, it closes.
_TYPE_ORDER = {
    EventType.MEETING_STARTED: 0,
    EventType.WAITING_ROOM_JOINED: 1,
    EventType.WAITING_ROOM_LEFT: 2,
    EventType.PARTICIPANT_JOINED: 3,
    EventType.PARTICIPANT_LEFT: 4,
    EventType.MEETING_ENDED: 5,
}


class IdentifiedBy(StrEnum):
    """How a participant was matched, strongest first (see the module docstring)."""

    EMAIL = "email"
    REGISTRANT = "registrant"
    ACCOUNT = "account"
    NAME = "name"
    NONE = "none"


_STRENGTH = {method: rank for rank, method in enumerate(IdentifiedBy)}


@dataclass(frozen=True)
class Invitee:
    """Someone invited to the meeting (the organizer included)."""

    email: str
    name: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "email", self.email.strip().lower())


@dataclass(frozen=True)
class SessionSpan:
    """One join session `[joined_at, left_at)`; `left_at` None while the meeting is still live."""

    joined_at: datetime
    left_at: datetime | None


@dataclass(frozen=True)
class ParticipantAttendance:
    """One participant's attendance. `key` is `ParticipantIdentity.key` (e-mail or "id:<id>")."""

    key: str
    email: str | None
    name: str | None
    classification: Classification
    invited: bool
    attended_seconds: int
    attended: bool
    first_join: datetime | None
    last_leave: datetime | None
    late_seconds: int
    sessions: tuple[SessionSpan, ...]
    # None for an invitee never seen at all.
    identified_by: IdentifiedBy | None = None
    waiting_seconds: int = 0


@dataclass(frozen=True)
class AttendanceRecord:
    """A meeting's attendance: participants by first join then key; never-joined ones last, by key."""

    actual_start: datetime | None
    actual_end: datetime | None
    actual_duration_seconds: int | None
    participants: tuple[ParticipantAttendance, ...]


def compute_attendance(
    *,
    scheduled_start: datetime,
    invitees: Sequence[Invitee],
    events: Iterable[AttendanceEvent],
    reported: AttendanceReport | None,
    company: CompanyDomains,
    min_attendance_seconds: int,
    as_of: datetime,
    registrations: Mapping[str, str] | None = None,
    closes_at: datetime | None = None,
) -> AttendanceRecord:
    """Build the attendance record of one meeting.

    `events` are that meeting's events in any order, duplicates allowed. `reported` is the
    provider's post-meeting report once reconciled (its presence also means the meeting is over);
    `as_of` is "now", up to which open sessions of a live meeting count. `registrations` maps the
    provider's registrant ids to the invitees' e-mails. `closes_at` is where a meeting known to be
    over (`reported` given) closes sessions still open when the provider never told its end.
    """
    scheduled_start = require_utc(scheduled_start)
    as_of = require_utc(as_of)
    ordered = _deduplicated_in_order(events)
    resolver = _IdentityResolver(ordered, reported, invitees, registrations or {})
    sightings = _sightings_from_events(ordered, resolver)
    if reported is not None:
        _apply_report(sightings, reported, resolver)

    actual_start = _actual_start(ordered, reported, sightings.values())
    actual_end = _actual_end(
        ordered, reported, sightings.values(), None if closes_at is None else require_utc(closes_at)
    )
    window = _Window(actual_start, actual_end, as_of)

    invited = _invitee_names(invitees)
    participants = [
        _participant(
            sighting,
            window=window,
            scheduled_start=scheduled_start,
            company=company,
            invitee_name=invited.get(key),
            is_invited=key in invited,
            min_attendance_seconds=min_attendance_seconds,
        )
        for key, sighting in sightings.items()
    ]
    participants.extend(
        _never_joined(email, name, company) for email, name in invited.items() if email not in sightings
    )
    participants.sort(key=_participant_order)

    duration: int | None = None
    if actual_start is not None and actual_end is not None:
        duration = max(0, (actual_end - actual_start) // _ONE_SECOND)
    return AttendanceRecord(actual_start, actual_end, duration, tuple(participants))


# --- events: deduplicate, order ------------------------------------------------------------


def _optional(value: str | None) -> tuple[bool, str]:
    """Make an optional string totally ordered (None first) for sort keys."""
    return (value is not None, value or "")


_EventOrder = tuple[
    datetime,
    int,
    str,
    str,
    str,
    tuple[bool, str],
    tuple[bool, str],
    tuple[bool, str],
    tuple[bool, str],
    tuple[bool, str],
    tuple[bool, str],
    tuple[bool, str],
    tuple[bool, str],
]


def _event_order(event: AttendanceEvent) -> _EventOrder:
    """A total order over every field, so equal keys mean identical events."""
    person = event.participant
    return (
        event.occurred_at,
        _TYPE_ORDER[event.type],
        event.event_key,
        str(event.provider),
        event.provider_meeting_id,
        _optional(None if person is None else person.key),
        _optional(None if person is None else person.provider_participant_id),
        _optional(None if person is None else person.name),
        _optional(event.session_key),
        _optional(event.meeting_title),
        _optional(event.host_email),
        _optional(event.provider_meeting_instance),
        _optional(None if person is None else person.registrant_id),
    )


def _deduplicated_in_order(events: Iterable[AttendanceEvent]) -> list[AttendanceEvent]:
    kept: dict[str, AttendanceEvent] = {}
    for event in events:
        current = kept.get(event.event_key)
        # Redeliveries are normally identical; if they differ, keep the same one whatever the
        # arrival order.
        if current is None or _event_order(event) < _event_order(current):
            kept[event.event_key] = event
    return sorted(kept.values(), key=_event_order)


# --- per-participant raw material ----------------------------------------------------------


@dataclass(frozen=True)
class _Edge:
    """A join or a leave: when, and the provider's session key if it gave one."""

    at: datetime
    session_key: str | None

    def order(self) -> tuple[datetime, bool, str]:
        return (self.at, *_optional(self.session_key))


@dataclass
class _Sighting:
    """Everything seen about one participant, before pairing."""

    key: str
    email: str | None
    identified_by: IdentifiedBy = IdentifiedBy.NONE
    names: list[tuple[datetime, str]] = field(default_factory=list)
    joins: list[_Edge] = field(default_factory=list)
    leaves: list[_Edge] = field(default_factory=list)
    # Sessions that come already paired (report rows): (joined_at, left_at).
    reported: list[tuple[datetime, datetime]] = field(default_factory=list)
    # Waiting-room time: events, and report rows (already paired).
    waiting_joins: list[_Edge] = field(default_factory=list)
    waiting_leaves: list[_Edge] = field(default_factory=list)
    reported_waiting: list[tuple[datetime, datetime]] = field(default_factory=list)

    def identified(self, method: IdentifiedBy) -> None:
        if _STRENGTH[method] < _STRENGTH[self.identified_by]:
            self.identified_by = method

    @property
    def join_times(self) -> list[datetime]:
        return [j.at for j in self.joins] + [joined for joined, _ in self.reported]

    @property
    def leave_times(self) -> list[datetime]:
        return [lv.at for lv in self.leaves] + [left for _, left in self.reported]

    def see_name(self, at: datetime, name: str | None) -> None:
        if name and name.strip():
            self.names.append((at, name.strip()))

    @property
    def latest_name(self) -> str | None:
        # Latest sighting wins; the name itself breaks a tie so the choice never depends on order.
        return max(self.names)[1] if self.names else None


def normalised_name(name: str | None) -> str:
    """A display name compared case-, accent- and spacing-insensitively ("" when there is none)."""
    if not name:
        return ""
    decomposed = unicodedata.normalize("NFKD", name)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


@dataclass(frozen=True)
class _Resolved:
    key: str
    email: str | None
    identified_by: IdentifiedBy


class _IdentityResolver:
    """Who each sighting is: an invitee's (or anyone's) e-mail when it can be told, else a guest.

    Built once over every sighting of the meeting (events and report rows), so the answer for one
    sighting never depends on the order in which the others arrived.
    """

    def __init__(
        self,
        ordered: Sequence[AttendanceEvent],
        reported: AttendanceReport | None,
        invitees: Sequence[Invitee],
        registrations: Mapping[str, str],
    ) -> None:
        self._registrations = {
            reg.strip(): email.strip().lower()
            for reg, email in registrations.items()
            if reg.strip() and email
        }
        by_name: dict[str, set[str]] = defaultdict(set)
        for invitee in invitees:
            if invitee.email and normalised_name(invitee.name):
                by_name[normalised_name(invitee.name)].add(invitee.email)
        # A name two invitees share tells neither apart: it matches nobody.
        self._invitee_by_name = {
            name: next(iter(emails)) for name, emails in by_name.items() if len(emails) == 1
        }

        sightings = [
            (e.participant, e.provider_meeting_instance)
            for e in ordered
            if e.participant is not None and e.type in PARTICIPANT_EVENT_TYPES
        ]
        if reported is not None:
            sightings += [(_row_identity(row), row.instance) for row in reported.sessions]
        # A provider participant id that was identified anywhere stands for that person everywhere
        # (Zoom's webhooks and its report can disagree on the e-mail). The strongest match wins,
        # then the smallest e-mail, so the result never depends on order.
        by_id: dict[str, tuple[int, str, IdentifiedBy]] = {}
        for person, _ in sightings:
            direct = self._direct(person)
            participant_id = person.provider_participant_id
            if direct is None or not participant_id:
                continue
            email, method = direct
            candidate = (_STRENGTH[method], email, method)
            if participant_id not in by_id or candidate < by_id[participant_id]:
                by_id[participant_id] = candidate
        self._by_id = {pid: (email, method) for pid, (_, email, method) in by_id.items()}
        # The rest are guests: one guest per shared participant id or shared name within an instance.
        self._guests = _UnionFind()
        for person, instance in sightings:
            if self._identified(person) is None:
                self._guests.union(*_guest_nodes(person, instance))

    def _direct(self, person: ParticipantIdentity) -> tuple[str, IdentifiedBy] | None:
        if person.email:
            return person.email, IdentifiedBy.EMAIL
        if person.registrant_id and person.registrant_id in self._registrations:
            return self._registrations[person.registrant_id], IdentifiedBy.REGISTRANT
        return None

    def _identified(self, person: ParticipantIdentity) -> tuple[str, IdentifiedBy] | None:
        direct = self._direct(person)
        if direct is not None:
            return direct
        participant_id = person.provider_participant_id
        if participant_id and participant_id in self._by_id:
            email, method = self._by_id[participant_id]
            return email, IdentifiedBy.ACCOUNT if method is IdentifiedBy.EMAIL else method
        invitee = self._invitee_by_name.get(normalised_name(person.name))
        if invitee is not None:
            return invitee, IdentifiedBy.NAME
        return None

    def resolve(self, person: ParticipantIdentity, instance: str | None) -> _Resolved:
        identified = self._identified(person)
        if identified is not None:
            email, method = identified
            return _Resolved(email, email, method)
        nodes = _guest_nodes(person, instance)
        return _Resolved(self._guests.representative(nodes[0]), None, IdentifiedBy.NONE)


def _row_identity(row: ReportedSession) -> ParticipantIdentity:
    # Raises ValueError for a row with no e-mail, participant id or registrant id: it cannot be keyed.
    return ParticipantIdentity(row.email, row.provider_participant_id, row.name, row.registrant_id)


def _guest_nodes(person: ParticipantIdentity, instance: str | None) -> list[str]:
    """The keys an unidentified sighting is known by: its participant id, and its name in its instance."""
    nodes = [person.key]
    name = normalised_name(person.name)
    if name:
        nodes.append(f"name:{instance or ''}:{name}")
    return nodes


class _UnionFind:
    """Groups of keys; a group is named by its smallest participant key, so the name is order-free."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def _root(self, node: str) -> str:
        self._parent.setdefault(node, node)
        while self._parent[node] != node:
            self._parent[node] = self._parent[self._parent[node]]
            node = self._parent[node]
        return node

    def union(self, first: str, *others: str) -> None:
        for other in others:
            a, b = self._root(first), self._root(other)
            if a != b:
                # Participant keys ("id:...") sort before name nodes ("name:..."), so a group keeps
                # the key of a real sighting as its name.
                low, high = min(a, b), max(a, b)
                self._parent[high] = low

    def representative(self, node: str) -> str:
        return self._root(node)


def _sightings_from_events(
    ordered: Sequence[AttendanceEvent], resolver: _IdentityResolver
) -> dict[str, _Sighting]:
    sightings: dict[str, _Sighting] = {}
    for event in ordered:
        if event.participant is None or event.type not in PARTICIPANT_EVENT_TYPES:
            continue
        who = resolver.resolve(event.participant, event.provider_meeting_instance)
        sighting = sightings.setdefault(who.key, _Sighting(who.key, who.email))
        sighting.identified(who.identified_by)
        sighting.see_name(event.occurred_at, event.participant.name)
        edge = _Edge(event.occurred_at, event.session_key)
        {
            EventType.PARTICIPANT_JOINED: sighting.joins,
            EventType.PARTICIPANT_LEFT: sighting.leaves,
            EventType.WAITING_ROOM_JOINED: sighting.waiting_joins,
            EventType.WAITING_ROOM_LEFT: sighting.waiting_leaves,
        }[event.type].append(edge)
    return sightings


def _apply_report(
    sightings: dict[str, _Sighting], report: AttendanceReport, resolver: _IdentityResolver
) -> None:
    """Replace the webhook sessions (and waiting time) of everyone the report names by its rows."""
    rows_by_key: dict[str, list[tuple[_Resolved, ReportedSession]]] = defaultdict(list)
    for row in report.sessions:
        who = resolver.resolve(_row_identity(row), row.instance)
        rows_by_key[who.key].append((who, row))
    for key, rows in rows_by_key.items():
        previous = sightings.get(key)
        sighting = _Sighting(key, rows[0][0].email)
        if previous is not None:
            sighting.names.extend(previous.names)
            sighting.identified(previous.identified_by)
        for who, row in rows:
            joined_at, left_at = require_utc(row.joined_at), require_utc(row.left_at)
            sighting.identified(who.identified_by)
            sighting.see_name(joined_at, row.name)
            (sighting.reported_waiting if row.in_waiting_room else sighting.reported).append(
                (joined_at, left_at)
            )
        sightings[key] = sighting


# --- meeting boundaries --------------------------------------------------------------------


def _actual_start(
    ordered: Sequence[AttendanceEvent], reported: AttendanceReport | None, sightings: Iterable[_Sighting]
) -> datetime | None:
    """The provider's start (the earliest it told of, by event or report), else the first join."""
    starts = [e.occurred_at for e in ordered if e.type is EventType.MEETING_STARTED]
    if reported is not None and reported.actual_start is not None:
        starts.append(require_utc(reported.actual_start))
    if starts:
        return min(starts)
    return min((at for s in sightings for at in s.join_times), default=None)


def _actual_end(
    ordered: Sequence[AttendanceEvent],
    reported: AttendanceReport | None,
    sightings: Iterable[_Sighting],
    closes_at: datetime | None,
) -> datetime | None:
    """The provider's end (the latest it told of: a restarted meeting's report ends after the first
    instance's end event), else, once the meeting is known to be over, the last leave, or
    `closes_at` when someone's session is still open (their leave was lost)."""
    ends = [e.occurred_at for e in ordered if e.type is EventType.MEETING_ENDED]
    if reported is not None and reported.actual_end is not None:
        ends.append(require_utc(reported.actual_end))
    if ends:
        end = max(ends)
        return None if _later_instance_running(ordered, end) else end
    if reported is None:
        return None  # no end event and no report: the meeting is still live
    sightings = list(sightings)
    last_leave = max((at for s in sightings for at in s.leave_times), default=None)
    if closes_at is not None and any(_pair(s.joins, s.leaves).open_joins for s in sightings):
        return closes_at if last_leave is None else max(last_leave, closes_at)
    return last_leave


def _later_instance_running(ordered: Sequence[AttendanceEvent], end: datetime) -> bool:
    """Whether the provider started the meeting again after `end` and that instance has not ended.

    Events carry the provider's instance id; an instance whose first event comes after the end
    and that has no end event of its own is running now, so the meeting is live again.
    """
    first_seen: dict[str, datetime] = {}
    ended: set[str] = set()
    for e in ordered:
        if e.provider_meeting_instance is None:
            continue
        first_seen.setdefault(e.provider_meeting_instance, e.occurred_at)
        if e.type is EventType.MEETING_ENDED:
            ended.add(e.provider_meeting_instance)
    # >=: times are whole seconds, and a restart can begin in the second the last instance ended.
    return any(at >= end and instance not in ended for instance, at in first_seen.items())


@dataclass(frozen=True)
class _Window:
    """The meeting's actual span; sessions are clipped to it."""

    start: datetime | None
    end: datetime | None  # None while live
    as_of: datetime

    @property
    def counted_until(self) -> datetime:
        return self.end if self.end is not None else self.as_of

    def clip_start(self, moment: datetime) -> datetime:
        return moment if self.start is None else max(moment, self.start)


# --- pairing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Paired:
    closed: list[tuple[datetime, datetime]]
    open_joins: list[datetime]


def _compatible(join: _Edge, leave: _Edge) -> bool:
    return join.session_key is None or leave.session_key is None or join.session_key == leave.session_key


def _pair_greedily(
    joins: list[_Edge], leaves: list[_Edge]
) -> tuple[list[tuple[_Edge, _Edge]], list[_Edge], list[_Edge]]:
    """Each leave, in time order, closes the earliest open compatible join at or before it.

    Returns the pairs, the joins left open and the leaves that closed nothing.
    """
    open_joins = sorted(joins, key=_Edge.order)
    pairs: list[tuple[_Edge, _Edge]] = []
    unmatched_leaves: list[_Edge] = []
    for leave in sorted(leaves, key=_Edge.order):
        match = next(
            (j for j in open_joins if j.at <= leave.at and _compatible(j, leave)),
            None,
        )
        if match is None:
            unmatched_leaves.append(leave)
            continue
        open_joins.remove(match)
        pairs.append((match, leave))
    return pairs, open_joins, unmatched_leaves


def _pair(joins: Sequence[_Edge], leaves: Sequence[_Edge]) -> _Paired:
    keyed_joins: dict[str, list[_Edge]] = defaultdict(list)
    keyed_leaves: dict[str, list[_Edge]] = defaultdict(list)
    rest_joins = [j for j in joins if j.session_key is None]
    rest_leaves = [lv for lv in leaves if lv.session_key is None]
    for join in joins:
        if join.session_key is not None:
            keyed_joins[join.session_key].append(join)
    for leave in leaves:
        if leave.session_key is not None:
            keyed_leaves[leave.session_key].append(leave)

    pairs: list[tuple[_Edge, _Edge]] = []
    for key in sorted(keyed_joins.keys() | keyed_leaves.keys()):
        key_pairs, key_open, key_unmatched = _pair_greedily(keyed_joins[key], keyed_leaves[key])
        pairs.extend(key_pairs)
        rest_joins.extend(key_open)
        rest_leaves.extend(key_unmatched)
    rest_pairs, still_open, _orphans = _pair_greedily(rest_joins, rest_leaves)
    pairs.extend(rest_pairs)
    return _Paired([(j.at, lv.at) for j, lv in pairs], [j.at for j in still_open])


# --- one participant -----------------------------------------------------------------------


def _listed_sessions(
    closed: Sequence[tuple[datetime, datetime]], open_joins: Sequence[datetime], window: _Window
) -> tuple[SessionSpan, ...]:
    """The sessions clipped to the meeting, zero-length ones dropped, overlaps kept.

    An open join is closed at the meeting's end, or stays open while the meeting is live.
    """
    spans: list[SessionSpan] = []
    bounds: list[tuple[datetime, datetime | None]] = [*closed]
    bounds.extend((joined, window.end) for joined in open_joins)
    for joined, left in bounds:
        start = window.clip_start(joined)
        if left is None:
            spans.append(SessionSpan(start, None))
            continue
        stop = left if window.end is None else min(left, window.end)
        if stop > start:
            spans.append(SessionSpan(start, stop))
    spans.sort(key=lambda s: (s.joined_at, s.left_at is None, s.left_at or s.joined_at))
    return tuple(spans)


def _union_seconds(sessions: Iterable[SessionSpan], window: _Window) -> int:
    """Length of the union of the sessions within the window, floored once to whole seconds."""
    until = window.counted_until
    intervals = sorted((s.joined_at, until if s.left_at is None else min(s.left_at, until)) for s in sessions)
    total = timedelta(0)
    covered_until: datetime | None = None
    for joined, stop in intervals:
        start = joined if covered_until is None else max(joined, covered_until)
        if stop > start:
            total += stop - start
            covered_until = stop
    return total // _ONE_SECOND


def _participant(
    sighting: _Sighting,
    *,
    window: _Window,
    scheduled_start: datetime,
    company: CompanyDomains,
    invitee_name: str | None,
    is_invited: bool,
    min_attendance_seconds: int,
) -> ParticipantAttendance:
    paired = _pair(sighting.joins, sighting.leaves)
    sessions = _listed_sessions([*paired.closed, *sighting.reported], paired.open_joins, window)
    attended_seconds = _union_seconds(sessions, window)

    first_join = min(sighting.join_times, default=None)
    last_leave: datetime | None
    if paired.open_joins and window.end is None:
        last_leave = None  # still in the live meeting
    else:
        leave_times = sighting.leave_times
        if paired.open_joins and window.end is not None:
            leave_times.append(window.end)  # closed by the meeting's end
        last_leave = max(leave_times, default=None)
    late_seconds = 0 if first_join is None else max(0, (first_join - scheduled_start) // _ONE_SECOND)
    is_identified = sighting.email is not None

    return ParticipantAttendance(
        key=sighting.key,
        email=sighting.email,
        name=sighting.latest_name or invitee_name,
        classification=company.classify(sighting.email),
        invited=is_invited,
        attended_seconds=attended_seconds,
        attended=attended_seconds >= min_attendance_seconds,
        first_join=first_join,
        last_leave=last_leave,
        late_seconds=late_seconds,
        sessions=sessions,
        identified_by=sighting.identified_by if is_identified else IdentifiedBy.NONE,
        waiting_seconds=_waiting_seconds(sighting, window),
    )


def _waiting_seconds(sighting: _Sighting, window: _Window) -> int:
    """The union of the participant's waiting-room spans. A wait whose end was not told ends when
    the participant was next admitted, else when the meeting ended (or now, while it is live)."""
    paired = _pair(sighting.waiting_joins, sighting.waiting_leaves)
    spans = [*paired.closed, *sighting.reported_waiting]
    admitted = sorted(sighting.join_times)
    for waited in paired.open_joins:
        spans.append((waited, next((at for at in admitted if at >= waited), window.counted_until)))
    total = timedelta(0)
    covered_until: datetime | None = None
    for began, stop in sorted(spans):
        start = began if covered_until is None else max(began, covered_until)
        if stop > start:
            total += stop - start
            covered_until = stop
    return total // _ONE_SECOND


def _invitee_names(invitees: Sequence[Invitee]) -> dict[str, str | None]:
    """E-mail -> name; a repeated address keeps its first non-empty name."""
    names: dict[str, str | None] = {}
    for invitee in invitees:
        if not invitee.email:
            continue
        name = invitee.name.strip() if invitee.name and invitee.name.strip() else None
        if names.get(invitee.email) is None:
            names[invitee.email] = name
    return names


def _never_joined(email: str, name: str | None, company: CompanyDomains) -> ParticipantAttendance:
    return ParticipantAttendance(
        key=email,
        email=email,
        name=name,
        classification=company.classify(email),
        invited=True,
        attended_seconds=0,
        attended=False,
        first_join=None,
        last_leave=None,
        late_seconds=0,
        sessions=(),
    )


def _participant_order(p: ParticipantAttendance) -> tuple[bool, datetime | None, str]:
    # Those who joined, by first join then key; then everyone else (never joined), by key.
    return (p.first_join is None, p.first_join, p.key)


def seconds_attended_until(sessions: Iterable[SessionSpan], until: datetime) -> int:
    """A live meeting's participant's `attended_seconds` as of `until`, from their listed sessions.

    The same count `compute_attendance` makes while the meeting is live (open sessions run up to
    `until`): it lets a record computed earlier be brought up to a later moment without its events.
    """
    return _union_seconds(sessions, _Window(None, None, require_utc(until)))
