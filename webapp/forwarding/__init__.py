"""Event forwarding: selected GitHub events delivered, signed and retried, to deployment platforms."""
