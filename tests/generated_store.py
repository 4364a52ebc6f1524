"""Generate a large MLflow store in bulk, straight into MLflow's tables.

Creating a run through MLflow's API costs about 12 ms here, so a 1,000,000-run store is written
with SQL instead: rows shaped as MLflow writes them (``runs``, ``tags``, ``params``,
``latest_metrics``, the registry tables), into a database MLflow itself migrated. PostgreSQL gets
COPY, other backends multi-row INSERTs. Used by the SQL reader's parity tests (small stores) and
by ``benchmarks/bench_scale.py`` (large ones).

Deterministic for a seed: about ``violating`` of the runs break a convention (a missing or
misspelt tag, a bad ``run.mode``), every fifth experiment has no requirements file in its runs'
artifacts (when artifacts are written), and model versions spread over the stages.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

__all__ = ["Generated", "generate"]

_T0 = 1_700_000_000_000  # 2023-11-14, ms
_MLMODEL = """\
artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.sklearn
  sklearn:
    pickled_model: model.pkl
model_uuid: {uuid}
signature:
  inputs: '[{{"type": "double", "name": "x", "required": true}}]'
  outputs: null
"""


@dataclass(frozen=True)
class Generated:
    runs: int
    experiments: int
    versions: int


def _rows(rows: Iterable[Sequence[Any]], size: int) -> Iterator[list[Sequence[Any]]]:
    batch: list[Sequence[Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Writer:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    def write(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        # MLflow before 3.10 has no workspace columns: what the schema lacks is left out
        present = {c["name"] for c in sa.inspect(self.engine).get_columns(table)}
        keep = [i for i, column in enumerate(columns) if column in present]
        if len(keep) < len(columns):
            columns = [columns[i] for i in keep]
            rows = ([row[i] for i in keep] for row in rows)
        if self.postgres:
            self._copy(table, columns, rows)
            return
        statement = sa.text(
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join(':' + c for c in columns)})"
        )
        with self.engine.begin() as conn:
            for batch in _rows(rows, 5000):
                conn.execute(statement, [dict(zip(columns, row, strict=True)) for row in batch])

    def _copy(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for batch in _rows(rows, 20000):
                    buffer = io.StringIO()
                    for row in batch:
                        buffer.write("\t".join(_copy_value(v) for v in row) + "\n")
                    copy.write(buffer.getvalue())
            raw.commit()
        finally:
            raw.close()


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def generate(
    uri: str,
    *,
    runs: int,
    experiments: int = 20,
    versions: int = 200,
    artifacts: Path | None = None,
    violating: float = 0.1,
    seed: int = 0,
    shared_artifacts: bool = False,
) -> Generated:
    """Fill the empty, migrated MLflow store at ``uri``. With ``artifacts``, each run gets an
    artifact folder there (``environment/requirements.txt`` in most) and each model version an
    ``MLmodel`` file; without, artifact URIs point at nothing and every run lacks its file.
    ``shared_artifacts`` gives the runs of an experiment one folder (a million runs would
    otherwise need three million inodes)."""
    rng = random.Random(seed)
    engine = sa.create_engine(uri)
    writer = _Writer(engine)
    root = (artifacts or Path("/nonexistent-mlflow-guard-artifacts")).resolve()
    exp_ids = list(range(1, experiments + 1))
    writer.write(
        "experiments",
        (
            "experiment_id",
            "name",
            "artifact_location",
            "lifecycle_stage",
            "creation_time",
            "last_update_time",
            "workspace",
        ),
        [
            (
                i,
                f"team{i % 4}/project_{i}" if i % 7 else f"Project {i}",  # every 7th misnamed
                str(root / str(i)),
                "active",
                _T0 + i,
                _T0 + i,
                "default",
            )
            for i in exp_ids
        ],
    )
    run_ids = [f"{rng.getrandbits(128):032x}" for _ in range(runs)]
    run_exp = [exp_ids[n % experiments] for n in range(runs)]
    starts = [_T0 + 1000 * n + rng.randrange(1000) for n in range(runs)]

    def folder(n: int) -> Path:
        return root / str(run_exp[n]) / ("shared" if shared_artifacts else run_ids[n]) / "artifacts"

    def run_rows() -> Iterator[Sequence[Any]]:
        for n, run_id in enumerate(run_ids):
            status = "FINISHED" if n % 50 else "FAILED"
            yield (
                run_id,
                f"train-{n}",
                "LOCAL",
                "train.py",
                "",
                "alice",
                status,
                starts[n],
                starts[n] + 60_000,
                "",
                "active",
                str(folder(n)),
                run_exp[n],
                None,
            )

    writer.write(
        "runs",
        (
            "run_uuid",
            "name",
            "source_type",
            "source_name",
            "entry_point_name",
            "user_id",
            "status",
            "start_time",
            "end_time",
            "source_version",
            "lifecycle_stage",
            "artifact_uri",
            "experiment_id",
            "deleted_time",
        ),
        run_rows(),
    )
    bad = {n for n in range(runs) if rng.random() < violating}

    def tag_rows() -> Iterator[Sequence[Any]]:
        for n, run_id in enumerate(run_ids):
            tags = {
                "mlflow.runName": f"train-{n}",
                "mlflow.user": "alice",
                "mlflow.source.type": "LOCAL",
                "os.user": "alice",
                "git.commit": f"{n:040x}",
                "source.type": "script",
                "model.type": "logreg",
                "run.mode": "training",
                "source.command": f"python train.py --seed {n}",
            }
            if n in bad:
                if n % 3 == 0:
                    del tags["git.commit"]
                elif n % 3 == 1:
                    tags["run.mode"] = "yolo"
                else:
                    del tags["os.user"]
            for key, value in tags.items():
                yield key, value, run_id

    writer.write("tags", ("key", "value", "run_uuid"), tag_rows())
    writer.write(
        "params",
        ("key", "value", "run_uuid"),
        ((f"p{j}", str(j * n % 97), run_id) for n, run_id in enumerate(run_ids) for j in range(10)),
    )
    writer.write(
        "latest_metrics",
        ("key", "value", "timestamp", "step", "is_nan", "run_uuid"),
        (
            (f"m{j}", 0.5 + j / 10, starts[n] + 1000, 0, False, run_id)
            for n, run_id in enumerate(run_ids)
            for j in range(5)
        ),
    )
    if artifacts is not None:
        for n in range(runs):
            place = folder(n)
            if place.exists():
                continue  # shared by the experiment's runs
            if run_exp[n] % 5:
                (place / "environment").mkdir(parents=True)
                (place / "environment" / "requirements.txt").write_text("scikit-learn\n")
            else:
                place.mkdir(parents=True)
    _registry(writer, rng, run_ids, run_exp, root, versions, artifacts is not None)
    engine.dispose()
    return Generated(runs=runs, experiments=experiments, versions=versions)


def _registry(
    writer: _Writer,
    rng: random.Random,
    run_ids: Sequence[str],
    run_exp: Sequence[int],
    root: Path,
    versions: int,
    files: bool,
) -> None:
    models = max(1, versions // 5)
    names = [f"model_{i}" if i % 9 else f"Model-{i}" for i in range(models)]
    writer.write(
        "registered_models",
        ("name", "creation_time", "last_updated_time", "description", "workspace"),
        [(name, _T0, _T0 + i, "", "default") for i, name in enumerate(names)],
    )
    rows = []
    aliases = []
    for v in range(versions):
        name = names[v % models]
        number = v // models + 1
        run = rng.randrange(len(run_ids)) if run_ids else None
        stage = ("None", "Staging", "Production", "Archived")[v % 4] if number > 1 else "None"
        location = str(root / "registry" / name / str(number))
        if files:
            Path(location).mkdir(parents=True)
            (Path(location) / "MLmodel").write_text(_MLMODEL.format(uuid=f"{v:032x}"))
        rows.append(
            (
                name,
                number,
                _T0 + v,
                _T0 + 10 * v,
                "",
                "alice",
                stage,
                location,
                run_ids[run] if run is not None else None,
                "READY",
                "",
                "",
                location,
                "default",
            )
        )
        if stage == "Production":
            aliases.append(("production", number, name, "default"))
    writer.write(
        "model_versions",
        (
            "name",
            "version",
            "creation_time",
            "last_updated_time",
            "description",
            "user_id",
            "current_stage",
            "source",
            "run_id",
            "status",
            "status_message",
            "run_link",
            "storage_location",
            "workspace",
        ),
        rows,
    )
    # one alias per model at most: the latest Production version holds it
    latest = {(name, ws): (alias, number) for alias, number, name, ws in aliases}
    writer.write(
        "registered_model_aliases",
        ("alias", "version", "name", "workspace"),
        [(alias, number, name, ws) for (name, ws), (alias, number) in latest.items()],
    )
