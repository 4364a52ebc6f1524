"""The gate's contact with MLflow.

``reader`` turns a tracking store into plain records and imports MLflow at module level: only the
CLI imports it, when it checks a store, never the pytest plugin at load time. ``connect`` (probe),
``links`` (UI URLs) and ``scope`` (search filters) are standard library only.
"""
