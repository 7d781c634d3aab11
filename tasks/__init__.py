"""RQ entry points, one module per capability: take ids, call one service, raise on failure."""
