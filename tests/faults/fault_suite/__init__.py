"""The whole-platform fault suite (``make test-faults``).

The four services as separate ``nameko run`` processes on a vhost and
databases of their own, reached through TCP proxies that can be cut; a
steady load of cases; a schedule of faults; then a reconciliation of every
database, queue and fake provider. Modules: :mod:`.stack` (what runs),
:mod:`.load` (the cases), :mod:`.faults` (the schedule), :mod:`.reconcile`
(the table and the verdict), :mod:`.driver` (the command line).
"""
