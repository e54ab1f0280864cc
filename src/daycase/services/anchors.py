"""Signed checkpoints of every chain head, kept outside the database (service room).

Whoever can write the database can re-compute a rewritten case's hash chain, but cannot
sign a checkpoint (canonical JSON of every head, HMAC-SHA256) without the anchor key,
which the database does not hold. Verification requires every stored chain to pass
through what each checkpoint anchored; `Anchoring` writes them from the server.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from daycase.config import Settings
from daycase.services.cases import Clock, shifted_clock
from daycase.store.audit import AuditHead
from daycase.store.audit_writer import flush_writer
from daycase.store.codec import canonical_json
from daycase.store.heads import Head, HeadsScan, collect_heads

log = logging.getLogger(__name__)

FORMAT = "daycase-checkpoint/1"
_KEY_BYTES = 32


class AnchorError(Exception):
    """A key or anchor folder that cannot be used; the message says why, plainly."""


@dataclass(frozen=True, slots=True)
class AnchorKey:
    secret: bytes
    key_id: str  # names the key in checkpoints without giving it away
    warning: str | None = None  # set when others may read the key file


def _key_id(secret: bytes) -> str:
    return hashlib.sha256(b"daycase anchor key id\n" + secret).hexdigest()[:16]


def new_key(path: Path) -> AnchorKey:
    """Make a random key file readable by its owner only; never overwrites one."""
    secret = secrets.token_bytes(_KEY_BYTES)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise AnchorError(f"{path} already exists; a key is never overwritten") from exc
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(secret.hex() + "\n")
        out.flush()
        os.fsync(out.fileno())
    return AnchorKey(secret, _key_id(secret))


def read_key(path: Path) -> AnchorKey:
    """The key in `path` (64 hex digits, as `new_key` writes it)."""
    try:
        text = path.read_text(encoding="ascii").strip()
        mode = path.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise AnchorError(f"cannot read the anchor key {path}: {exc}") from exc
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) != _KEY_BYTES:
        raise AnchorError(f"{path} is not a daycase anchor key (64 hex digits expected)")
    warning = None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warning = (
            f"the anchor key {path} can be read by other users (mode {stat.S_IMODE(mode):o}); "
            f"anyone who reads it can sign checkpoints: chmod 600 {path}"
        )
    return AnchorKey(secret, _key_id(secret), warning)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One verified checkpoint file."""

    path: Path
    written_at: datetime
    key_id: str
    cases: dict[str, Head]
    audit: AuditHead

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True, slots=True)
class AnchorProblem:
    """Something a checkpoint proves was changed, or a checkpoint that cannot be trusted."""

    subject: str  # "case <id>", "audit log" or the checkpoint's file name
    seq: int | None
    problem: str
    kind: str = "case"  # "case", "audit" or "checkpoint"


def _payload(*, written_at: datetime, key_id: str, scan: HeadsScan) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "written_at": written_at.isoformat(),
        "key_id": key_id,
        "audit": {"last_seq": scan.audit.seq, "last_hash": scan.audit.hash},
        "cases": [
            {"case_id": case_id, "last_seq": head.seq, "last_hash": head.hash}
            for case_id, head in sorted(scan.cases.items())
        ],
    }


def _sign(payload: dict[str, Any], key: AnchorKey) -> str:
    return hmac.new(key.secret, canonical_json(payload).encode(), hashlib.sha256).hexdigest()


def write_checkpoint(
    out_dir: Path, *, scan: HeadsScan, key: AnchorKey, written_at: datetime
) -> Path:
    """Write the signed checkpoint atomically (a reader never sees half a file)."""
    payload = _payload(written_at=written_at, key_id=key.key_id, scan=scan)
    text = canonical_json({**payload, "hmac": _sign(payload, key)}) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = written_at.astimezone().strftime("%Y%m%dT%H%M%S%z")
    path = out_dir / f"checkpoint-{stamp}-{secrets.token_hex(3)}.json"
    partial = out_dir / f".{path.name}.partial"
    with partial.open("w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    partial.replace(path)
    _sync_dir(out_dir)
    return path


def _sync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class UntrustedCheckpoint(Exception):
    """A file in the anchor folder that is not a checkpoint signed with a given key."""


def parse_checkpoint(path: Path, keys: dict[str, AnchorKey]) -> Checkpoint:
    """The checkpoint in `path`, checked against the key it names (`keys` by key id)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        claimed = raw.pop("hmac")
        key_id = raw["key_id"]
        fmt = raw["format"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UntrustedCheckpoint(
            "not a daycase checkpoint (it does not parse); forged or damaged"
        ) from exc
    if fmt != FORMAT:
        raise UntrustedCheckpoint(f"not a checkpoint this daycase reads (format {fmt!r})")
    key = keys.get(key_id)
    if key is None:
        raise UntrustedCheckpoint(
            f"signed with a key that was not given (key id {key_id}): pass that key with "
            "--key, or the file was forged"
        )
    if not isinstance(claimed, str) or not hmac.compare_digest(claimed, _sign(raw, key)):
        raise UntrustedCheckpoint("its signature does not match: the file was forged or edited")
    try:
        return Checkpoint(
            path=path,
            written_at=datetime.fromisoformat(raw["written_at"]),
            key_id=key_id,
            cases={
                str(c["case_id"]): Head(int(c["last_seq"]), str(c["last_hash"]))
                for c in raw["cases"]
            },
            audit=AuditHead(int(raw["audit"]["last_seq"]), str(raw["audit"]["last_hash"])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UntrustedCheckpoint(f"signed, but its content does not read: {exc}") from exc


def newest_own(folder: Path, key: AnchorKey) -> Checkpoint | None:
    """The newest checkpoint in `folder` signed with `key` (by file time): where the next
    one starts. An older one would only mean more chains re-computed, never fewer."""
    if not folder.is_dir():
        return None
    files = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in files:
        try:
            return parse_checkpoint(path, {key.key_id: key})
        except UntrustedCheckpoint:
            continue
    return None


def anchor_now(
    engine: sa.Engine,
    *,
    key: AnchorKey,
    out_dir: Path,
    written_at: datetime,
    base: Checkpoint | None = None,
) -> tuple[Path, HeadsScan]:
    """Check what moved since `base` (the newest checkpoint in `out_dir` when not given)
    and write a checkpoint of every head; the problems found are in the scan."""
    flush_writer(engine)  # this process's queued audit rows belong in the audit head
    base = base or newest_own(out_dir, key)
    scan = collect_heads(
        engine,
        base=base.cases if base else {},
        base_audit=base.audit if base else None,
    )
    return write_checkpoint(out_dir, scan=scan, key=key, written_at=written_at), scan


def report_scan(scan: HeadsScan) -> Iterable[AnchorProblem]:
    """The problems met while anchoring, in the same words as verification's."""
    for p in scan.problems:
        yield AnchorProblem(f"case {p.case_id}", p.seq, p.problem)
    for a in scan.audit_problems:
        yield AnchorProblem("audit log", a.seq, a.problem, kind="audit")


class Anchoring:
    """The server's own checkpoints: one at start, one every `every_s`, one at shutdown."""

    def __init__(
        self, engine: sa.Engine, *, key: AnchorKey, out_dir: Path, every_s: float, clock: Clock
    ) -> None:
        self._engine = engine
        self._key = key
        self._out_dir = out_dir
        self._every_s = every_s
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="daycase-anchoring", daemon=True)
        self._base: Checkpoint | None = None
        self.written = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, then write a last checkpoint of where the chains ended."""
        self._stop.set()
        self._thread.join(timeout=60)
        self.anchor_once()

    def anchor_once(self) -> None:
        """Write one checkpoint; a failure is logged, never raised into the server."""
        try:
            path, scan = anchor_now(
                self._engine,
                key=self._key,
                out_dir=self._out_dir,
                written_at=self._clock(),
                base=self._base,
            )
        except Exception:
            log.exception("anchor checkpoint not written to %s", self._out_dir)
            return
        for problem in report_scan(scan):
            log.error("anchoring: %s (seq %s): %s", problem.subject, problem.seq, problem.problem)
        self._base = Checkpoint(
            path=path,
            written_at=self._clock(),
            key_id=self._key.key_id,
            cases=dict(scan.cases),
            audit=scan.audit,
        )
        self.written += 1

    def _run(self) -> None:
        self.anchor_once()
        while not self._stop.wait(self._every_s):
            self.anchor_once()


def start_anchoring(settings: Settings, engine: sa.Engine) -> Anchoring | None:
    """The server's anchoring thread when `anchor_key_file` and `anchor_dir` are set.

    A half or broken configuration raises `AnchorError`, so the server does not start
    believing its history is being anchored when it is not.
    """
    key_file, out_dir = settings.anchor_key_file, settings.anchor_dir
    if not key_file and not out_dir:
        return None
    if not key_file or not out_dir:
        raise AnchorError(
            "set both DAYCASE_ANCHOR_KEY_FILE and DAYCASE_ANCHOR_DIR to anchor, or neither"
        )
    key = read_key(Path(key_file))
    if key.warning:
        log.warning("%s", key.warning)
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AnchorError(f"cannot make the anchor folder {folder}: {exc}") from exc
    anchoring = Anchoring(
        engine,
        key=key,
        out_dir=folder,
        every_s=settings.anchor_every_minutes * 60,
        clock=shifted_clock(settings.clock_offset_seconds),
    )
    anchoring.start()
    return anchoring
