"""Train the mushroom growth-stage classifier, log it to MLflow and put it into Staging.

    python src/scripts/examples/mlflow_train_demo.py --n_estimators 200

The store is MLflow's default unless told otherwise: MLFLOW_TRACKING_URI if set, else
sqlite:///mlflow.db in the working directory.
"""

from __future__ import annotations

import argparse
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n_estimators", "--n-estimators", type=int, default=100)
    parser.add_argument("--max_depth", "--max-depth", type=int, default=None)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--n_samples", "--n-samples", type=int, default=2000)
    parser.add_argument("--experiment", default="mushroom/growth_prediction")
    parser.add_argument("--run-name", default=None, help="default: {timestamp}_{user}")
    parser.add_argument("--tracking-uri", default=None, help="default: MLflow's own resolution")
    parser.add_argument(
        "--registered-model-name",
        default="mushroom_growth_classifier",
        help="register the model under this name ('' to skip registration)",
    )
    return parser.parse_args(argv)


def browse_hint(uri: str) -> str:
    """How to look at the runs: a server already serves its UI; a local store needs `mlflow ui`."""
    if uri.split("://", 1)[0].lower() in ("http", "https"):
        return f"open {uri.split('?', 1)[0].rstrip('/')} in a browser (the server's own UI)"
    return f"mlflow ui --backend-store-uri {uri} --port 5000"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from mushroom_growth import train_and_log

    from pytest_mlflow_guard import ConventionError

    try:
        result = train_and_log(
            experiment=args.experiment,
            tracking_uri=args.tracking_uri,
            n_estimators=args.n_estimators,
            max_depth=args.max_depth,
            seed=args.seed,
            n_samples=args.n_samples,
            run_name=args.run_name,
            registered_model_name=args.registered_model_name or None,
        )
    except ConventionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import mlflow

    from pytest_mlflow_guard.redact import redact_text

    # never echo a password embedded in the tracking URI
    uri = redact_text(args.tracking_uri or mlflow.get_tracking_uri())
    name = args.registered_model_name
    print(f"run id:        {result.run_id}")
    metrics = result.metrics
    print(f"accuracy:      {metrics['accuracy']:.3f}  f1_macro: {metrics['f1_macro']:.3f}")
    print(f"logged model:  {result.model_uri}")
    if name and result.version:
        print(f"registered:    models:/{name}/{result.version} (stage Staging)")
        print(f"load it with:  mlflow.pyfunc.load_model('models:/{name}/Staging')")
        print(f"          or:  mlflow.pyfunc.load_model('models:/{name}@staging')")
    print(f"tracking uri:  {uri}")
    print(f"browse it:     {browse_hint(uri)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
