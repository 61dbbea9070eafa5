"""The stack spec: its model (`model`) and the YAML loader with file:line:col errors (`load`)."""

from elb_mtls_deploy.spec.model import (
    CA,
    GeneratedCA,
    GeneratedClient,
    GeneratedServer,
    ImportedCA,
    ImportedServer,
    Listener,
    Spec,
)

__all__ = [
    "CA",
    "GeneratedCA",
    "GeneratedClient",
    "GeneratedServer",
    "ImportedCA",
    "ImportedServer",
    "Listener",
    "Spec",
]
