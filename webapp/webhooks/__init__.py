"""GitHub webhook intake: verify, store, queue, route to the capability that cares, never lose one."""
