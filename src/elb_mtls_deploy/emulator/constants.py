"""Public constants of the emulator: the demo credentials and the seeded load balancers.

The demo AK/SK is a published, deliberately fake pair so that a new user can point the
official SDK at the emulator without a cloud account. It grants nothing anywhere else.
"""

from __future__ import annotations

DEMO_AK = "EMULATORDEMOAK0000000"
DEMO_SK = "emulator-demo-sk-not-secret-do-not-use-in-the-cloud"
DEMO_PROJECT_ID = "0e1a2b3c4d5e6f708192a3b4c5d6e7f8"

SEEDED_DEDICATED_LB_ID = "6f0d4e59-2b1a-4c4d-9a7e-000000000001"
SEEDED_DEDICATED_LB_NAME = "emulator-dedicated-lb"
SEEDED_DEDICATED_LB_VIP = "127.0.0.1"

# A second dedicated LB without IP-type backends (ip_target_enable false): members need a
# subnet there (ELB.8939), as on a real dedicated LB created without the option.
SEEDED_NO_IP_TARGET_LB_ID = "6f0d4e59-2b1a-4c4d-9a7e-000000000003"
SEEDED_NO_IP_TARGET_LB_NAME = "emulator-dedicated-lb-subnet-only"
SEEDED_NO_IP_TARGET_LB_VIP = "127.0.0.3"

SEEDED_SHARED_LB_ID = "6f0d4e59-2b1a-4c4d-9a7e-000000000002"
SEEDED_SHARED_LB_NAME = "emulator-shared-lb"
SEEDED_SHARED_LB_VIP = "127.0.0.2"

# The seeded LBs live in a fake VPC/subnet; members may use any subnet id (not checked).
SEEDED_VPC_ID = "6f0d4e59-2b1a-4c4d-9a7e-0000000000f0"
SEEDED_SUBNET_ID = "6f0d4e59-2b1a-4c4d-9a7e-0000000000f1"

DB_FILENAME = "emulator.db"
SERVER_FILENAME = "server.json"
