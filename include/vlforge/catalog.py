"""The release catalog: one SQL row per published release, and which release is current per dataset.

A release folder (``vlforge.release``) is the content; the catalog is the index
that people, the dashboard and the release DAG query: version, content hash,
parent, counts per task type and split, metric means, gate results, recipe hash,
seed, status and the ``current`` flag. It is a SQLite file at
``$VLFORGE_HOME/catalog.sqlite`` by default, or any SQLAlchemy URL
(``postgresql+psycopg2://...``; ``VLFORGE_CATALOG_URL`` when no URL is passed).
The DAG resolves an Airflow connection to a URL.

Statuses: ``released`` (published, not yet made current), ``held`` (published
but held back, e.g. a regression against the previous release: promoting it
needs ``forced_by`` and ``reason``), ``promoted`` (has been made current).
``current`` is separate from the status: exactly one release per dataset is
current after its first promotion, switched in one transaction under a row
lock, and a unique partial index (SQLite, PostgreSQL) makes a second current
row impossible even for a buggy writer. Every promotion is also appended to
``vlforge_promotions``, so a forced promotion's who and why stay on record
after the release is superseded.

Why ``metadata.create_all`` and no migrations yet: the schema is at its first
version and no deployed catalog has to be upgraded. ``create_all`` creates
missing tables and indexes and never alters existing ones, so the first change
to a column must come with Alembic and a baseline revision equal to this
schema (``SCHEMA_VERSION``, stored in ``vlforge_catalog_meta``, says which
schema a database holds). New metrics need no migration: they live in the
``metrics`` JSON; only the four agreement metrics have float columns. A new table is no change to a
column: ``vlforge_evaluations`` (issue 17) is created by ``create_all`` beside the others in an existing
catalog, so ``SCHEMA_VERSION`` stays 1.

``vlforge_evaluations`` holds ``vlforge.evaluate`` results, one row per (release, evaluator, model,
metric, subset): recording a release's evaluation again replaces its earlier rows for the same
evaluators in one transaction. It never touches ``vlforge_releases``: evaluation does not change a release.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import DBAPIError, IntegrityError

from vlforge.compare import release_metrics, synthetic_share
from vlforge.layout import HOME_ENV, ObjectStoreUnsupported, is_object_store, vlforge_home

CATALOG_URL_ENV = "VLFORGE_CATALOG_URL"
SCHEMA_VERSION = 1
STATUSES = ("released", "held", "promoted")  # the first two are recorded, the last set by promote
_WRITE_OPTION = "vlforge_write"
# Schema columns, fixed on purpose (a change needs a migration); the same names as
# vlforge.quality.agreement.METRICS, which a test checks. Other metrics stay in the JSON.
METRIC_COLUMNS = ("iou_agreement", "ocr_accuracy", "action_completeness", "bertscore_f1")

metadata = MetaData()
releases = Table(
    "vlforge_releases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(128), nullable=False),
    Column("version", String(64), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("parent_version", String(64)),
    Column("status", String(16), nullable=False),
    Column("is_current", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("samples", Integer),
    Column("counts_by_task_type", JSON, nullable=False),
    Column("counts_by_split", JSON, nullable=False),
    Column("counts", JSON, nullable=False),
    Column("synthetic_share", Float),
    Column("metrics", JSON, nullable=False),
    *(Column(name, Float) for name in METRIC_COLUMNS),
    Column("gates", JSON, nullable=False),
    Column("recipe_hash", String(128)),
    Column("seed", BigInteger),
    Column("path", Text),
    Column("promoted_at", DateTime(timezone=True)),
    Column("forced_by", String(256)),
    Column("force_reason", Text),
    UniqueConstraint("dataset", "version", name="uq_vlforge_releases_dataset_version"),
)
Index(
    "uq_vlforge_releases_one_current",
    releases.c.dataset,
    unique=True,
    sqlite_where=releases.c.is_current == true(),
    postgresql_where=releases.c.is_current == true(),
).ddl_if(dialect=("sqlite", "postgresql"))
# The dashboard's and promotion's listing order: one dataset's releases by time.
Index("ix_vlforge_releases_dataset_created", releases.c.dataset, releases.c.created_at, releases.c.id)
promotions = Table(
    "vlforge_promotions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("release_id", Integer, ForeignKey("vlforge_releases.id"), nullable=False),
    Column("dataset", String(128), nullable=False),
    Column("version", String(64), nullable=False),
    Column("previous_version", String(64)),
    Column("promoted_at", DateTime(timezone=True), nullable=False),
    Column("forced_by", String(256)),
    Column("reason", Text),
)
evaluations = Table(
    "vlforge_evaluations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(128), nullable=False),
    Column("version", String(64), nullable=False),
    Column("evaluator", String(64), nullable=False),
    Column("model", String(256), nullable=False),
    Column("metric", String(128), nullable=False),
    Column("subset", String(256), nullable=False),
    Column("value", Float),
    Column("count", Integer, nullable=False),
    Column("examples", JSON, nullable=False),
    Column("evaluation_run", String(128), nullable=False),
    Column("evaluated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("dataset", "version", "evaluator", "model", "metric", "subset", name="uq_vlforge_evaluations_key"),
)
catalog_meta = Table(
    "vlforge_catalog_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)


class PromotionRefused(ValueError):
    """Promoting a held release without saying who forces it and why."""


class Catalog:
    """The release catalog on one database; open it with ``open_catalog``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    def record_release(self, release: dict[str, Any], status: str = "released") -> dict[str, Any]:
        """Add a published release; recording the same (dataset, version) again returns the existing row.

        Args:
            release: ``RELEASE.json`` content (``publish_release``'s result): ``dataset``, ``version``,
                ``content_hash``, ``parent_version``, ``counts``, ``metrics``, ``gates``, ``recipe_hash``,
                ``seed``, ``created_at``, optionally ``path``.
            status: ``released``, or ``held`` for a release kept from being promoted.

        Returns:
            The catalog row (``get_release``'s form). A re-record keeps the first row as it is.

        Raises:
            ValueError: for an unknown status, a missing key, or the same version with another content hash.
        """
        if status not in STATUSES[:2]:
            raise ValueError(f"a release is recorded as 'released' or 'held', not {status!r}")
        missing = [key for key in ("dataset", "version", "content_hash") if not release.get(key)]
        if missing:
            raise ValueError(f"release dict lacks {missing}; has {sorted(release)}")
        dataset, version = str(release["dataset"]), str(release["version"])
        existing = self.get_release(dataset, version)
        if existing is None:
            try:
                with self._writing() as connection:
                    connection.execute(insert(releases).values(**_row(release, status)))
            except IntegrityError:
                pass  # recorded concurrently by another worker: compare with that row below
            existing = self.get_release(dataset, version)
            assert existing is not None, f"{dataset}/{version} neither inserted nor found"
        if existing["content_hash"] != release["content_hash"]:
            raise ValueError(
                f"{dataset}/{version} is already recorded with content hash {existing['content_hash']}, "
                f"not {release['content_hash']}"
            )
        return existing

    def get_release(self, dataset: str, version: str) -> dict[str, Any] | None:
        """One release's row with its promotion history, or ``None``."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(releases).where(releases.c.dataset == dataset, releases.c.version == version)
            ).mappings().first()
            if row is None:
                return None
            history = connection.execute(
                select(promotions).where(promotions.c.release_id == row["id"]).order_by(promotions.c.id)
            ).mappings().all()
        return _as_dict(row) | {"promotions": [_promotion(item) for item in history]}

    def list_releases(self, dataset: str | None = None, offset: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """Every release (of one dataset, or all), oldest first by dataset; ``offset`` and ``limit`` give one page."""
        query = select(releases).order_by(releases.c.dataset, releases.c.created_at, releases.c.id).offset(offset).limit(limit)
        if dataset is not None:
            query = query.where(releases.c.dataset == dataset)
        with self.engine.connect() as connection:
            return [_as_dict(row) for row in connection.execute(query).mappings()]

    def count_releases(self, dataset: str | None = None) -> int:
        query = select(func.count()).select_from(releases)
        if dataset is not None:
            query = query.where(releases.c.dataset == dataset)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def datasets(self) -> list[str]:
        """Every dataset with a recorded release, by name."""
        with self.engine.connect() as connection:
            return list(connection.execute(select(releases.c.dataset).distinct().order_by(releases.c.dataset)).scalars())

    def latest_released(self, dataset: str) -> dict[str, Any] | None:
        """The newest release that is not held (``released`` or ``promoted``): what a new release is compared with."""
        query = (
            select(releases)
            .where(releases.c.dataset == dataset, releases.c.status != "held")
            .order_by(releases.c.created_at.desc(), releases.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        return None if row is None else _as_dict(row)

    def current(self, dataset: str) -> dict[str, Any] | None:
        """The dataset's current release (the one trainers should take), or ``None`` before any promotion."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(releases).where(releases.c.dataset == dataset, releases.c.is_current == true())
            ).mappings().first()
        return None if row is None else _as_dict(row)

    def promote(self, dataset: str, version: str, forced_by: str | None = None, reason: str | None = None) -> dict[str, Any]:
        """Make a release the dataset's current one, in one transaction with the previous one's flag cleared.

        Args:
            dataset: the dataset.
            version: the release to make current.
            forced_by: who forces the promotion; required, with ``reason``, for a held release.
            reason: why.

        Returns:
            The promoted release's row.

        Raises:
            KeyError: when the release is not in the catalog.
            PromotionRefused: for a held release without ``forced_by`` and ``reason``, or ``forced_by`` without ``reason``.
        """
        if forced_by is not None and not (reason and reason.strip()):
            raise PromotionRefused(f"forcing {dataset}/{version} needs a reason as well as forced_by={forced_by!r}")
        now = datetime.now(UTC)
        with self._writing() as connection:
            # Lock the dataset's rows: concurrent promotions of one dataset run one after the other.
            rows = connection.execute(
                select(releases.c.id, releases.c.version, releases.c.status, releases.c.is_current)
                .where(releases.c.dataset == dataset)
                .with_for_update()
            ).mappings().all()
            target = next((row for row in rows if row["version"] == version), None)
            if target is None:
                known = ", ".join(row["version"] for row in rows) or "none"
                raise KeyError(f"{dataset}/{version} is not in the catalog (recorded versions: {known})")
            if target["status"] == "held" and forced_by is None:
                raise PromotionRefused(
                    f"{dataset}/{version} is held; promote it with forced_by and reason to override the hold"
                )
            previous = next((row for row in rows if row["is_current"]), None)
            already_current = previous is not None and previous["id"] == target["id"] and forced_by is None
            if not already_current:
                _switch_current(connection, dataset, target, previous, now, forced_by, reason)
        return self._promoted(dataset, version)

    def record_evaluation(self, dataset: str, version: str, run: str, rows: list[dict[str, Any]]) -> int:
        """Store a release's evaluation results, replacing earlier rows of the same evaluators for that release.

        Args:
            dataset: the dataset.
            version: the evaluated release (it must be in the catalog).
            run: the evaluation run that measured them (its folder name).
            rows: ``EvaluationRow.to_json()`` dicts.

        Returns:
            How many rows were stored.

        Raises:
            KeyError: when the release is not in the catalog.
        """
        if self.get_release(dataset, version) is None:
            raise KeyError(f"{dataset}/{version} is not in the catalog: record the release before its evaluation")
        now = datetime.now(UTC)
        values = [
            {
                "dataset": dataset,
                "version": version,
                "evaluator": str(row["evaluator"]),
                "model": str(row["model"]),
                "metric": str(row["metric"]),
                "subset": str(row["subset"]),
                "value": _json_safe(row["value"]),
                "count": int(row["count"]),
                "examples": _json_safe(list(row.get("examples") or [])),
                "evaluation_run": run,
                "evaluated_at": now,
            }
            for row in rows
        ]
        evaluators = sorted({value["evaluator"] for value in values})
        with self._writing() as connection:
            connection.execute(
                evaluations.delete().where(
                    evaluations.c.dataset == dataset, evaluations.c.version == version, evaluations.c.evaluator.in_(evaluators)
                )
            )
            if values:
                connection.execute(insert(evaluations), values)
        return len(values)

    def list_evaluations(self, dataset: str, version: str | None = None) -> list[dict[str, Any]]:
        """A dataset's evaluation results (of one release, or all), by release time, evaluator, model, metric, subset."""
        query = (
            select(evaluations, releases.c.created_at)
            .join(releases, (releases.c.dataset == evaluations.c.dataset) & (releases.c.version == evaluations.c.version))
            .where(evaluations.c.dataset == dataset)
            .order_by(releases.c.created_at, releases.c.id, evaluations.c.evaluator, evaluations.c.model,
                      evaluations.c.metric, evaluations.c.subset)
        )
        if version is not None:
            query = query.where(evaluations.c.version == version)
        with self.engine.connect() as connection:
            return [
                {
                    "dataset": row["dataset"],
                    "version": row["version"],
                    "evaluator": row["evaluator"],
                    "model": row["model"],
                    "metric": row["metric"],
                    "subset": row["subset"],
                    "value": row["value"],
                    "count": row["count"],
                    "examples": row["examples"],
                    "evaluation_run": row["evaluation_run"],
                    "evaluated_at": _iso(row["evaluated_at"]),
                }
                for row in connection.execute(query).mappings()
            ]

    def previous_evaluated(self, dataset: str, version: str) -> str | None:
        """The newest release of ``dataset`` created before ``version`` that has evaluation results, or ``None``."""
        target = self.get_release(dataset, version)
        if target is None:
            raise KeyError(f"{dataset}/{version} is not in the catalog")
        evaluated = select(evaluations.c.version).where(evaluations.c.dataset == dataset).distinct()
        query = (
            select(releases.c.version, releases.c.created_at)
            .where(releases.c.dataset == dataset, releases.c.version != version, releases.c.version.in_(evaluated))
            .order_by(releases.c.created_at.desc(), releases.c.id.desc())
        )
        created = _timestamp(target["created_at"])
        with self.engine.connect() as connection:
            for row in connection.execute(query).mappings():
                if _timestamp(row["created_at"]) <= created:
                    return str(row["version"])
        return None

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction: on SQLite it takes the write lock at BEGIN (see ``_serialise_sqlite_writes``)."""
        with self.engine.connect().execution_options(**{_WRITE_OPTION: True}) as connection, connection.begin():
            yield connection

    def _promoted(self, dataset: str, version: str) -> dict[str, Any]:
        row = self.get_release(dataset, version)
        assert row is not None, f"{dataset}/{version} vanished from the catalog"
        return row


def _switch_current(
    connection: Connection,
    dataset: str,
    target: RowMapping,
    previous: RowMapping | None,
    now: datetime,
    forced_by: str | None,
    reason: str | None,
) -> None:
    """Clear the current flag, set it on ``target`` and log the promotion, in the caller's one transaction."""
    connection.execute(
        update(releases).where(releases.c.dataset == dataset, releases.c.is_current == true()).values(is_current=False)
    )
    connection.execute(
        update(releases)
        .where(releases.c.id == target["id"])
        .values(is_current=True, status="promoted", promoted_at=now, forced_by=forced_by, force_reason=reason)
    )
    connection.execute(
        insert(promotions).values(
            release_id=target["id"],
            dataset=dataset,
            version=target["version"],
            previous_version=previous["version"] if previous else None,
            promoted_at=now,
            forced_by=forced_by,
            reason=reason,
        )
    )


def catalog_url(url: str | None = None, connection_uri: str | None = None, home: Path | str | None = None) -> str:
    """The catalog's URL: ``url`` (a recipe's ``release.catalog_url`` or ``--catalog``), else the Airflow
    connection ``vlforge_catalog``'s URI when the caller found one, else ``$VLFORGE_CATALOG_URL``, else
    the SQLite file ``catalog.sqlite`` in ``home`` (default ``$VLFORGE_HOME``).

    Raises:
        ObjectStoreUnsupported: no URL was given and ``home`` is an object store, where a SQLite file cannot live.
    """
    if url:
        return url
    if connection_uri:
        # Airflow writes PostgreSQL connections as postgres://, a scheme SQLAlchemy no longer accepts.
        scheme, rest = connection_uri.split("://", 1)
        return f"postgresql+psycopg2://{rest}" if scheme in ("postgres", "postgresql") else connection_uri
    if os.environ.get(CATALOG_URL_ENV):
        return os.environ[CATALOG_URL_ENV]
    setting = os.environ.get(HOME_ENV, "data") if home is None else home
    if is_object_store(setting):
        # SQLite needs a local file with working locks: a copy on S3 would lose concurrent promotions.
        raise ObjectStoreUnsupported(
            f"{HOME_ENV}={setting} is an object store, where the default SQLite catalog ({HOME_ENV}/catalog.sqlite) "
            f"cannot live: set {CATALOG_URL_ENV}, the Airflow connection vlforge_catalog or the recipe's "
            "release.catalog_url to a database URL, e.g. postgresql+psycopg2://user@host/vlforge"
        )
    return f"sqlite:///{vlforge_home('the default SQLite catalog', setting) / 'catalog.sqlite'}"


def open_catalog(url: str | None = None) -> Catalog:
    """Open (and on first use create) the release catalog.

    Args:
        url: a SQLAlchemy URL, e.g. ``postgresql+psycopg2://user@host/db`` or ``sqlite:///path``;
            ``None`` for ``catalog_url()``'s default.

    Returns:
        The catalog; ``close()`` it (or use it as a context manager) when done.
    """
    resolved = catalog_url(url)
    engine = create_engine(resolved, **_engine_options(resolved))
    if engine.dialect.name == "sqlite":
        _serialise_sqlite_writes(engine)
        database = engine.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    _create_schema(engine)
    return Catalog(engine)


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True}


def _serialise_sqlite_writes(engine: Engine) -> None:
    """SQLite: ``BEGIN IMMEDIATE`` for write transactions, so a read-then-write (promote) holds the write lock.

    pysqlite otherwise starts a transaction lazily, before the first write, and two promotions that both
    read first would deadlock (SQLAlchemy's documented recipe). Reads take a plain ``BEGIN`` and so also
    work on a read-only catalog file.
    """

    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get(_WRITE_OPTION) else "BEGIN")


def _create_schema(engine: Engine) -> None:
    """``create_all``, retried once: two workers creating the tables at the same time make one of them fail."""
    for attempt in range(2):
        try:
            metadata.create_all(engine)
            with engine.begin() as connection:
                stored = connection.execute(select(catalog_meta.c.value).where(catalog_meta.c.key == "schema_version"))
                value = stored.scalar_one_or_none()
                if value is None:
                    connection.execute(insert(catalog_meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
                elif int(value) != SCHEMA_VERSION:
                    raise RuntimeError(
                        f"catalog at {engine.url!r} has schema version {value}, this vlforge reads {SCHEMA_VERSION}"
                    )
            return
        except (IntegrityError, DBAPIError):
            if attempt:
                raise


def _row(release: dict[str, Any], status: str) -> dict[str, Any]:
    counts = dict(release.get("counts") or {})
    metrics = release_metrics(release)
    by_task_type = {str(task): int(count) for task, count in (counts.get("by_task_type") or {}).items()}
    samples = counts.get("samples", sum(by_task_type.values()) if by_task_type else None)
    return {
        "dataset": str(release["dataset"]),
        "version": str(release["version"]),
        "content_hash": str(release["content_hash"]),
        "parent_version": release.get("parent_version"),
        "status": status,
        "is_current": False,
        "created_at": _timestamp(release.get("created_at")),
        "recorded_at": datetime.now(UTC),
        "samples": samples,
        "counts_by_task_type": by_task_type,
        "counts_by_split": dict(counts.get("by_split") or {}),
        "counts": _json_safe(counts),
        "synthetic_share": synthetic_share(release),
        "metrics": _json_safe(release.get("metrics") or {}),
        **{name: metrics.get(name) for name in METRIC_COLUMNS},
        "gates": _json_safe(release.get("gates") or []),
        "recipe_hash": release.get("recipe_hash"),
        "seed": release.get("seed"),
        "path": release.get("path"),
    }


def _as_dict(row: RowMapping) -> dict[str, Any]:
    """A row in ``RELEASE.json``'s vocabulary (``counts.by_task_type``, ``metrics``), JSON-able."""
    counts = dict(row["counts"] or {})
    counts["by_task_type"] = row["counts_by_task_type"]
    counts["by_split"] = row["counts_by_split"]
    return {
        "dataset": row["dataset"],
        "version": row["version"],
        "content_hash": row["content_hash"],
        "parent_version": row["parent_version"],
        "status": row["status"],
        "current": bool(row["is_current"]),
        "created_at": _iso(row["created_at"]),
        "recorded_at": _iso(row["recorded_at"]),
        "samples": row["samples"],
        "counts": counts,
        "synthetic_share": row["synthetic_share"],
        "metrics": row["metrics"],
        **{name: row[name] for name in METRIC_COLUMNS},
        "gates": row["gates"],
        "recipe_hash": row["recipe_hash"],
        "seed": row["seed"],
        "path": row["path"],
        "promoted_at": _iso(row["promoted_at"]),
        "forced_by": row["forced_by"],
        "force_reason": row["force_reason"],
    }


def _promotion(row: RowMapping) -> dict[str, Any]:
    return {
        "promoted_at": _iso(row["promoted_at"]),
        "previous_version": row["previous_version"],
        "forced_by": row["forced_by"],
        "reason": row["reason"],
    }


def _timestamp(value: Any) -> datetime:
    """``created_at`` as an aware UTC datetime; ``now`` when the release does not say."""
    if value is None:
        return datetime.now(UTC)
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    """SQLite returns naive datetimes: every stored time is UTC."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat(timespec="seconds")


def _json_safe(value: Any) -> Any:
    """NaN is not JSON (PostgreSQL refuses it): it becomes ``None``."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value
