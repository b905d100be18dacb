"""RPC that commits before it replies.

nameko's ``@rpc`` publishes the reply and acks the request in
``handle_result``, and only then do the dependencies see ``worker_result``,
where :class:`~labornet_shared.db.Database` would commit. A caller can read
the reply — and act on it, or read the database from elsewhere — before the
change is committed, or after a commit that failed. :data:`rpc` finishes the
worker's units of work first (:func:`~labornet_shared.db.finish_units_of_work`),
as labornet's HTTP and event entrypoints do: the reply leaves only once the
change is committed, and a commit that fails is the reply's error.

Everything else is nameko's: the queue (``rpc-<service>``), the reply's
format, ``expected_exceptions`` and ``sensitive_arguments``::

    from labornet_shared.rpc import rpc

    class IntakeService:
        @rpc(expected_exceptions=InvalidArgument)
        def contact_for_notification(self, reference, purpose): ...
"""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Any

from nameko.constants import AMQP_URI_CONFIG_KEY as AMQP_URI
from nameko.rpc import Rpc

from labornet_shared.broker_errors import broker_connection_errors
from labornet_shared.db import finish_units_of_work

log = logging.getLogger(__name__)


class CommittingRpc(Rpc):
    """nameko's ``Rpc`` entrypoint, committing the unit of work before the
    reply (and the ack) leaves."""

    def handle_result(
        self, message: Any, worker_ctx: Any, result: Any, exc_info: Any
    ) -> tuple[Any, Any]:
        """Commit (or roll back), then reply with the result or the error."""
        failed_before = exc_info is not None
        try:
            exc_info = finish_units_of_work(worker_ctx, exc_info)
        except Exception:
            # even a rollback that fails (a lost connection) is answered: a
            # worker dying here would leave the caller waiting, unacked
            exc_info = sys.exc_info()
        if exc_info is not None:
            if not failed_before:
                # the method succeeded but its commit did not: nameko logged
                # nothing, and the error's text may hold SQL, never values
                log.error(
                    "rpc %s.%s: commit failed (%s)",
                    self.container.service_name,
                    self.method_name,
                    exc_info[0].__name__,
                )
            # what the method returned was not stored: it must not reach the
            # caller (the reply carries the result beside the error)
            result = None
        dropped = broker_connection_errors(str(self.container.config[AMQP_URI]))
        try:
            return self.rpc_consumer.handle_result(message, result, exc_info)
        except dropped as exc:
            # the broker went away while the reply was sent: the request was
            # not acked, so it stays queued for a redelivery (or the caller's
            # retry) once the broker is back. Raising here would kill the
            # whole service (nameko kills a container whose worker raises in
            # handle_result).
            log.warning(
                "rpc %s.%s: reply not sent, broker connection lost (%s);"
                " the request is left for redelivery",
                self.container.service_name,
                self.method_name,
                type(exc).__name__,
            )
            with contextlib.suppress(*dropped):
                self.rpc_consumer.requeue_message(message)
            return result, exc_info


rpc = CommittingRpc.decorator
