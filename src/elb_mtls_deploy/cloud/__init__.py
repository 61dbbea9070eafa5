"""The cloud seam: the interface the reconciler talks to (`base`), in the records'
vocabulary; its one implementation over the official SDK (`sdk`, with `translate` for SDK
exceptions: the only importers of `huaweicloudsdk*`); the one record <-> wire field mapping
(`wire`); the read of everything a plan compares (`snapshot`); credentials from the
environment (`credentials`)."""
