"""labornet's shared contracts and plumbing.

What two services share is a contract, and it lives here: the event envelope
and payload schemas, the transactional outbox and its relay, the idempotent
consumer and dead-lettering, HTTP conventions, tokens and reference data.
"""

SERVICES = ("intake", "routing", "registry", "notify")
