"""The tracking-server apps (``mlflow server --app-name mlflow-guard``): the conventions enforced
on every write, whichever client makes it. Imported only by ``mlflow server``: nothing else in
the package imports this folder."""
