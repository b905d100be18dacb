"""Operations tooling: the ``labornet`` command and ``make run``'s supervisor.

Nothing a running service needs lives here; services' own commands
(``labornet registry ...``) build on :mod:`~labornet_shared.ops.console` and
:mod:`~labornet_shared.ops.installation`.
"""
