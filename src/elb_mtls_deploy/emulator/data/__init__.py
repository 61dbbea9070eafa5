"""The emulator's data plane: every HTTPS listener served for real on a loopback port.

``listeners.DataPlane`` takes ``contract.ServedListener`` values and serves them: TLS from
``tls``, forwarding headers from ``headers``, HTTP/1.1 proxying to members in ``proxy``,
sockets and accept loops in ``sockets``, echo stand-ins for members in ``demo_backend``.
It imports nothing of the control plane.
"""
