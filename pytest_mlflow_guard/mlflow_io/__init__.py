"""The gate's contact with MLflow.

``reader`` (and ``session_reader``) turn a tracking store into plain records and import MLflow at
module level: the CLI and the pytest session import them when a check runs, never when pytest
merely loads the plugin. ``connect`` (probe),
``links`` (UI URLs) and ``scope`` (search filters) are standard library only.
"""
