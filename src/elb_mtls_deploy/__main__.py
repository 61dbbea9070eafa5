"""`python -m elb_mtls_deploy` runs the CLI."""

from elb_mtls_deploy.cli import main

raise SystemExit(main())
