"""Signed provenance: an in-toto Statement with a SLSA Provenance predicate per step, in a
DSSE envelope signed with Ed25519 (``keys``, ``dsse``, ``statement``), checked against the
lineage graph (``chain``) and bundled for offline verification (``bundle``)."""
