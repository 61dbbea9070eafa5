"""The cloud seam: a neutral interface (`base`) and its one implementation over the official SDK
(`sdk`, the only importer of `huaweicloudsdk*`)."""
