"""Coordinator actions on a round: choose a run, pin, move, unplace, forbid, re-solve, publish,
close. The web pages call these; each is one small unit of work inside the caller's transaction.

Every function receives a `Session` (the caller commits), the round, and the `User` acting
(None for the system or the command line); it writes one `AuditEvent` with the state before and
after, and returns an `Outcome` saying what changed. A refused action raises `ActionRefused`
(`MoveRefused`, `PinRefused`, `RoundChanged`, `NotAllowed`) whose `rule` names what would break
(`H1`..`H9` of the spec, `state` for the round's lifecycle, `version` for a stale round,
`access` for a user who may not act) and writes nothing.

The package's modules: `locks` (the round, student, seat, mentor and run locks, in their one
order), `audit` (the event each action writes), `checks` (the hard rules as an action checks
them for one student), `edits` (one student's rows in the chosen run and the run's metrics),
`placements` (move, place, unplace), `pins` (pin, unpin, forbid), `lifecycle` (solve_round,
choose_run, resolve, publish, close), `protect` (what a run changes of published and confirmed
placements: `choose_run` and `publish` refuse it unless `accept_changes`, naming every student)
and `answers` (the employer's accept or decline of a published placement). Refusals are
`scheduler.errors`', access is `scheduler.access`'.

Access. A user acts on a round only as an active account holding a `Membership` of the round's
program with the role `coordinator` or `admin` (a `viewer` only reads); anyone else is refused
with `NotAllowed` (rule `access`) before anything is read for the action, locked or written.
The check is one query (the account and its membership, as stored now: a user deactivated or
demoted since the page loaded is refused). It runs before the round's lock: it reads only the
account and the membership, which no action changes, so a refused user neither waits for
coordinators at work nor holds them up. Every row passed in (student, opportunity, slot,
mentor, run) must belong to the round, or the action is refused as `access` too: the
membership was checked for the round's program, and a row of another round may be another
program's.

Checks use the solver's own rules, one student at a time. `refusal_codes` (H3-H7) runs on a
problem of one student and one opportunity assembled from their rows (`scheduler.problems`,
the same mapping as the whole round's): the rules are per pair, so the answer is the one the
whole round would give (a test keeps the two in agreement), and a move in a 100,000-student
round reads a few dozen rows instead of the round. What decides H2, H8 and H9 is
`solver.rules` too (the capacity of an opportunity, which mentors serve it, a meeting that
fits or clashes, where a pin allows a placement); only the seats and places already taken are
counted by query, under lock (`checks`, one function per rule).

Decisions, where the format leaves a choice:
- A manual move or placement is pinned: it adds a `Pin` of the round for (student,
  opportunity, slot) and the assignment becomes `pinned`, so a re-solve keeps it (the solver
  treats pins as hard constraints). `pin=False` moves without pinning (status `proposed`).
- A workplace mentor is picked when the opportunity requires one and none is given: the student's
  current mentor if it still fits, else the first (by external id) with a free place. A place is
  free when neither the run's other students hold it nor a pin of another student, not yet
  honoured in the run, names the mentor: a re-solve must give that student the mentor (H9), just
  as seats are held for students pinned to a slot. A mentor named by the coordinator whose only
  free places are held that way is refused (H9).
- A community mentorship that the move makes impossible (its meeting overlaps a shift of the
  new slot, or the student now has a workplace mentor) is dropped, with a note in the outcome
  and the audit, rather than refusing the move; a pin naming that mentor refuses it (H9).
- Seats and mentor places are counted over every assignment of the run, `declined` ones too:
  a declined placement still appears in the run's solution, which must stay within capacity.
  `unplace` frees such a seat.
- A placement that `forbid` rules out is removed from the chosen run (the student becomes
  unplaced with reason `forbidden`), whatever its status.
- After a change of placements the run's metrics are updated and an `optimal` run becomes
  `feasible`, its `edited_at` is set and its solution says `"edited": true`: it still satisfies
  every rule (`wbl check`
  accepts it), but it is no longer the solver's proven optimum.

Concurrency. Two coordinators may move different students at the same time; what must never
happen is that both take the last seat of a slot. Before counting, a move locks the rows it
counts against: the opportunity, then the slot, then candidate mentors, then the run (for its
metrics), always in that order so that two moves cannot deadlock (a pin naming a mentor locks
it in the same place, before counting the other pins that name it). On PostgreSQL these are
`SELECT ... FOR NO KEY UPDATE` row locks (the strength of an UPDATE that changes no key: it
excludes other movers but not foreign-key checks of unrelated inserts); under READ COMMITTED
the second transaction waits, and its count, a new statement, sees the first one's seat. Edits
also lock the student's row, so two actions on one student never interleave (H1, pins). SQLite
has no row locks but only one writer at a time, and its driver starts the transaction only at
the first write: every action therefore starts with a write (a no-op UPDATE of the round,
right after the access check, which reads no data of the round), which makes a second action
wait for the first to commit before it reads anything it counts.

Whole-round actions (choose_run, publish, close) must not interleave with edits either. Edits
take a shared lock on the round row (`FOR SHARE`: edits do not exclude each other), whole-round
actions an exclusive one, so a publish waits for moves in flight and moves wait for a publish.
`Round.version` is the optimistic counter: whole-round actions change the round row and so bump
it, and every action first compares the stored version with the one the caller loaded (and
with `expected_version`, the version a page showed, where given): an action prepared against a
round that has since been re-chosen, published or re-imported is refused as `RoundChanged`
instead of landing on the wrong run. Edits of single students do not bump the version, so
coordinators working on different students do not invalidate each other.
"""

from scheduler.actions.answers import accept, decline
from scheduler.actions.audit import Outcome
from scheduler.actions.checks import RULE_OF_CODE, pair_refusals
from scheduler.actions.lifecycle import (
    SolveStarted,
    choose_run,
    close,
    publish,
    resolve,
    solve_round,
)
from scheduler.actions.pins import forbid, pin, unpin
from scheduler.actions.placements import move, place, unplace
from scheduler.actions.protect import ChangesRefused, PlacementChange, protected_changes
from scheduler.errors import ActionRefused, MoveRefused, NotAllowed, PinRefused, RoundChanged

__all__ = [
    "RULE_OF_CODE",
    "ActionRefused",
    "ChangesRefused",
    "MoveRefused",
    "NotAllowed",
    "Outcome",
    "PinRefused",
    "PlacementChange",
    "RoundChanged",
    "SolveStarted",
    "accept",
    "choose_run",
    "close",
    "decline",
    "forbid",
    "move",
    "pair_refusals",
    "pin",
    "place",
    "protected_changes",
    "publish",
    "resolve",
    "solve_round",
    "unpin",
    "unplace",
]
