"""The local privacy ledger: what each released report cost, per conversation and per dataset.

The privacy unit is one conversation. Every conversation a run reads is a *member* of that run,
named in the ledger only by a keyed hash (HMAC-SHA256 of its canonical content, under a random
secret kept in the ledger; the content itself is never stored). Two rules protect members
across runs:

- **DP runs** (``--epsilon``): a member's ε spent is the sum over every DP run it was part of
  (sequential composition; δ adds up the same way). A run is refused when any of its members
  would go above the budget (``--budget``, default 3.0). Because the charge follows the
  conversation, not the file, a run on a file and a run on the same file minus one
  conversation both charge every shared conversation: differencing them costs the budget.
- **Runs without DP** publish exact figures, so the ledger applies query-set overlap control:
  a report is refused when one of its published cells (a cluster, or a cluster's turn index)
  holds members that differ from the same published cell of an earlier exact report by
  1 to k-1 conversations. Differencing two such cells would isolate fewer than k
  conversations. (Pairwise control cannot stop every combination of three or more exact
  reports; docs/privacy.md says so, and DP is the answer to that.)

The *fingerprint of the input set* is the HMAC of the sorted member hashes: the manifest and
the ledger carry it, so ``audit verify`` can find the run's ledger entry. The ledger is a SQLite
file (``$EDGE_EVAL_HOME/ledger.sqlite``) written in transactions, so two runs at once cannot
both spend the same budget. It never leaves the machine.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_eval.errors import ArtifactError, BudgetExceededError, ConfigError, PrivacyViolation

__all__ = [
    "DEFAULT_BUDGET",
    "BudgetExceededError",
    "Charge",
    "charge_dp_run",
    "LedgerRun",
    "PrivacyLedger",
    "conversation_digest",
    "default_ledger_path",
    "digest_conversation",
    "record_score_run",
]

DEFAULT_BUDGET = 3.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    dp INTEGER NOT NULL,
    epsilon REAL NOT NULL,
    delta REAL NOT NULL,
    budget REAL NOT NULL,
    min_count INTEGER NOT NULL,
    parameters TEXT NOT NULL,
    members INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS spend (
    member TEXT NOT NULL,
    run_id TEXT NOT NULL,
    PRIMARY KEY (member, run_id)
);
CREATE TABLE IF NOT EXISTS cells (
    run_id TEXT NOT NULL,
    cell TEXT NOT NULL,
    member TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cells_by_cell ON cells (cell, run_id);
"""


def default_ledger_path() -> Path:
    """``$EDGE_EVAL_HOME/ledger.sqlite``, else ``~/.edge-eval/ledger.sqlite``."""
    home = os.environ.get("EDGE_EVAL_HOME")
    base = Path(home) if home else Path.home() / ".edge-eval"
    return base / "ledger.sqlite"


def conversation_digest(messages: Iterable[tuple[str, str]], *extra: object) -> bytes:
    """SHA-256 of a conversation's canonical content (roles and texts, then ``extra`` fields).

    Stays in memory; the ledger stores only its HMAC under the ledger's secret.
    """
    payload = json.dumps(
        [[list(m) for m in messages], [None if e is None else str(e) for e in extra]],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).digest()


def digest_conversation(conversation: Any) -> bytes:
    """:func:`conversation_digest` of a loaded :class:`~edge_eval.conversations.Conversation`:
    its messages' roles and texts, its task label and desired empathy (not its id or meta)."""
    return conversation_digest(
        ((m.role, m.content) for m in conversation.messages),
        conversation.task,
        conversation.desired_empathy,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Charge:
    """What a run asks of the ledger.

    Attributes:
        epsilon: ε of the run (0 for an exact, non-DP run).
        delta: δ of the run.
        budget: the most ε any member may have spent after this run.
        min_count: k of the run's suppression (used by the overlap control).
        parameters: the run's DP parameters as recorded in the manifest (mechanism, split).
    """

    epsilon: float
    delta: float
    budget: float
    min_count: int
    parameters: Mapping[str, Any]

    @property
    def dp(self) -> bool:
        return self.epsilon > 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerRun:
    """A ledger entry, as ``audit verify`` reads it back.

    Attributes:
        run_id: random identifier, also in the manifest.
        fingerprint: keyed hash of the run's member set.
        dp: whether the run was differentially private.
        epsilon, delta: what the run spent.
        budget: the budget the run was checked against.
        parameters: the run's recorded DP parameters.
        max_spent_epsilon: the largest total ε of any member of this run, over all DP runs now
            in the ledger.
        max_spent_delta: the same for δ.
    """

    run_id: str
    fingerprint: str
    dp: bool
    epsilon: float
    delta: float
    budget: float
    parameters: Mapping[str, Any]
    max_spent_epsilon: float
    max_spent_delta: float


class PrivacyLedger:
    """The ledger file. Open it with :meth:`open`; every write is one transaction."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path
        self._secret = self._load_secret()

    @classmethod
    def open(cls, path: Path | str | None = None, *, create: bool = True) -> PrivacyLedger:
        p = Path(path) if path is not None else default_ledger_path()
        if p.is_symlink():
            raise ConfigError("the ledger path is a symbolic link", hint="Pass a plain file.")
        if not create and not p.is_file():
            raise ArtifactError(
                "no privacy ledger at the given path",
                hint="Pass --ledger with the ledger.sqlite of the machine that ran the scoring.",
            )
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(p, timeout=30.0, isolation_level=None)
            connection.executescript(_SCHEMA)
            os.chmod(p, 0o600)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise ConfigError(
                    "the privacy ledger stayed locked by another run for 30 s",
                    hint="Wait for the other run to finish, then try again.",
                ) from exc
            raise ArtifactError(
                "the privacy ledger is not a readable ledger file",
                hint="Restore it from a backup; never edit it by hand.",
            ) from exc
        except OSError as exc:
            raise ConfigError(
                "the privacy ledger cannot be created or opened",
                hint="Pass --ledger PATH (or set EDGE_EVAL_HOME) to a folder you can write.",
            ) from exc
        return cls(connection, p)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> PrivacyLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")  # one writer at a time, across processes
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _load_secret(self) -> bytes:
        with self._transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()
            if row is None:
                value = secrets.token_hex(32)
                db.execute("INSERT INTO meta (key, value) VALUES ('secret', ?)", (value,))
            else:
                value = row[0]
        return bytes.fromhex(value)

    # --- names ---------------------------------------------------------------------------------

    def member(self, digest: bytes) -> str:
        """The ledger's name of a conversation: HMAC of its digest, 128 bits, hex."""
        return hmac.new(self._secret, digest, hashlib.sha256).hexdigest()[:32]

    def fingerprint(self, members: Iterable[str]) -> str:
        """Keyed hash of a set of members (order and repetition do not matter)."""
        joined = "\n".join(sorted(set(members))).encode("ascii")
        return hmac.new(self._secret, b"set\n" + joined, hashlib.sha256).hexdigest()

    # --- DP budget -----------------------------------------------------------------------------

    def _spent(self, db: sqlite3.Connection, members: Sequence[str]) -> tuple[float, float]:
        worst_e, worst_d = 0.0, 0.0
        for start in range(0, len(members), 500):
            chunk = members[start : start + 500]
            marks = ",".join("?" * len(chunk))
            row = db.execute(
                "SELECT MAX(e), MAX(d) FROM (SELECT SUM(r.epsilon) AS e, SUM(r.delta) AS d "
                "FROM spend s JOIN runs r ON r.run_id = s.run_id "
                f"WHERE s.member IN ({marks}) AND r.dp = 1 GROUP BY s.member)",
                chunk,
            ).fetchone()
            worst_e = max(worst_e, row[0] or 0.0)
            worst_d = max(worst_d, row[1] or 0.0)
        return worst_e, worst_d

    def spent(self, members: Sequence[str]) -> tuple[float, float]:
        """The largest (ε, δ) any of ``members`` has spent so far."""
        return self._spent(self._db, list(members))

    def check(self, members: Sequence[str], charge: Charge) -> None:
        """Refuse, before any work, a DP run that would overspend (no write)."""
        if not charge.dp:
            return
        spent, _ = self.spent(members)
        if spent + charge.epsilon > charge.budget + 1e-12:
            raise BudgetExceededError(_over_budget(spent, charge))

    def record(
        self,
        members: Sequence[str],
        charge: Charge,
        *,
        published_cells: Mapping[str, Sequence[str]] | None = None,
    ) -> LedgerRun:
        """Check again and record a run in one transaction; returns its entry.

        ``published_cells`` (exact runs only) maps a cell label (``cluster:NAME`` or
        ``turn:NAME:INDEX``) to the members whose data went into that published cell.
        """
        members = sorted(set(members))
        run_id = uuid.uuid4().hex
        fingerprint = self.fingerprint(members)
        with self._transaction() as db:
            if charge.dp:
                spent, _ = self._spent(db, members)
                if spent + charge.epsilon > charge.budget + 1e-12:
                    raise BudgetExceededError(_over_budget(spent, charge))
            elif published_cells:
                self._overlap_check(db, published_cells, charge.min_count)
            db.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    fingerprint,
                    1 if charge.dp else 0,
                    float(charge.epsilon),
                    float(charge.delta),
                    float(charge.budget),
                    int(charge.min_count),
                    json.dumps(dict(charge.parameters), sort_keys=True),
                    len(members),
                ),
            )
            db.executemany(
                "INSERT INTO spend (member, run_id) VALUES (?, ?)", ((m, run_id) for m in members)
            )
            if not charge.dp and published_cells:
                db.executemany(
                    "INSERT INTO cells (run_id, cell, member) VALUES (?, ?, ?)",
                    (
                        (run_id, cell, m)
                        for cell, cell_members in published_cells.items()
                        for m in set(cell_members)
                    ),
                )
        entry = self.run(run_id)
        assert entry is not None
        return entry

    def _overlap_check(
        self, db: sqlite3.Connection, cells: Mapping[str, Sequence[str]], min_count: int
    ) -> None:
        for cell, cell_members in cells.items():
            mine = set(cell_members)
            earlier: dict[str, set[str]] = {}
            for run_id, member in db.execute(
                "SELECT run_id, member FROM cells WHERE cell = ?", (cell,)
            ):
                earlier.setdefault(run_id, set()).add(member)
            for theirs in earlier.values():
                differ = len(mine ^ theirs)
                k = min_count
                if 0 < differ < k:
                    raise BudgetExceededError(
                        "this report would publish a cell whose conversations differ from the "
                        f"same cell of an earlier exact report by fewer than k = {k}: "
                        "comparing the two would isolate those conversations",
                        hint="Nothing was written. Release it with --epsilon (differential "
                        "privacy), or change the data by at least k conversations per cell.",
                    )

    # --- reading back --------------------------------------------------------------------------

    def runs(self) -> list[LedgerRun]:
        """Every recorded run, oldest first, with its members' current worst spend."""
        ids = [r for (r,) in self._db.execute("SELECT run_id FROM runs ORDER BY rowid")]
        return [run for run in (self.run(i) for i in ids) if run is not None]

    def run(self, run_id: str) -> LedgerRun | None:
        """The entry of a run, with the current worst spend of its members."""
        row = self._db.execute(
            "SELECT run_id, fingerprint, dp, epsilon, delta, budget, parameters FROM runs "
            "WHERE run_id = ?",
            (run_id,),
        ).fetchone()
        if row is None:
            return None
        members = [
            m for (m,) in self._db.execute("SELECT member FROM spend WHERE run_id = ?", (run_id,))
        ]
        spent_e, spent_d = self._spent(self._db, members)
        return LedgerRun(
            run_id=row[0],
            fingerprint=row[1],
            dp=bool(row[2]),
            epsilon=row[3],
            delta=row[4],
            budget=row[5],
            parameters=json.loads(row[6]),
            max_spent_epsilon=spent_e,
            max_spent_delta=spent_d,
        )


def _over_budget(spent: float, charge: Charge) -> str:
    return (
        f"this run would spend ε = {charge.epsilon:g} on conversations that have already spent "
        f"up to ε = {spent:g} of the budget {charge.budget:g}"
    )


def record_score_run(
    table: Any,
    digests: Sequence[bytes],
    report: Mapping[str, Any],
    *,
    epsilon: float | None,
    delta: float,
    budget: float,
    min_count: int,
    mechanism: str | None,
    path: Path | str | None = None,
) -> dict[str, Any]:
    """Charge a finished `score` run to the ledger; returns the manifest's ``ledger`` entry.

    ``table`` (a :class:`~edge_eval.scores.ScoreTable`) and ``digests`` are in the same row
    order. An exact run registers the members of each published cell of ``report`` (a cluster,
    and each of its published turn indices) for the overlap control; a DP run its ε and δ.

    Raises:
        BudgetExceededError: the run would overspend the budget, or repeat a cell with fewer
            than k conversations changed. Nothing is recorded then.
    """
    import numpy as np

    if len(digests) != table.n_conversations:
        raise PrivacyViolation("the ledger's member list does not match the score table")
    dp = epsilon is not None
    charge = Charge(
        epsilon=float(epsilon) if epsilon is not None else 0.0,
        delta=float(delta) if dp else 0.0,
        budget=float(budget),
        min_count=int(min_count),
        parameters={"mechanism": mechanism} if dp else {},
    )
    with PrivacyLedger.open(path) as ledger:
        members = [ledger.member(d) for d in digests]
        cells: dict[str, list[str]] = {}
        if not dp:
            names = list(table.clusters)
            length = np.bincount(table.turn_conv, minlength=table.n_conversations)
            for group in report.get("clusters", []):
                if group.get("status") != "published":
                    continue
                c = names.index(group["cluster"])
                rows = np.flatnonzero(table.conv_cluster == c)
                cells[f"cluster:{group['cluster']}"] = [members[r] for r in rows]
                for cell in group["turns"]["cells"]:
                    i = int(cell["index"])
                    reached = rows[length[rows] >= i]
                    cells[f"turn:{group['cluster']}:{i}"] = [members[r] for r in reached]
        run = ledger.record(members, charge, published_cells=cells)
    return {
        "run_id": run.run_id,
        "fingerprint": run.fingerprint,
        "budget": run.budget,
        "epsilon_spent_max": run.max_spent_epsilon,
    }


def charge_dp_run(
    digests: Sequence[bytes],
    *,
    epsilon: float,
    delta: float,
    budget: float,
    min_count: int,
    mechanism: str,
    path: Path | str | None = None,
) -> dict[str, Any]:
    """Charge a DP release over these conversations (e.g. ``validate --epsilon``); returns its
    ledger entry for the record. Raises :class:`BudgetExceededError` when it would overspend."""
    charge = Charge(
        epsilon=float(epsilon),
        delta=float(delta),
        budget=float(budget),
        min_count=int(min_count),
        parameters={"mechanism": mechanism},
    )
    with PrivacyLedger.open(path) as ledger:
        run = ledger.record([ledger.member(d) for d in digests], charge)
    return {
        "run_id": run.run_id,
        "fingerprint": run.fingerprint,
        "budget": run.budget,
        "epsilon_spent_max": run.max_spent_epsilon,
    }
