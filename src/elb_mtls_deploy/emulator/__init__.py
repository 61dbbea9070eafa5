"""Embedded Huawei Cloud ELB emulator (filled in by the emulator work)."""
