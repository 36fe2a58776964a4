"""Lineage both ways with OpenLineage: export run events, import them, and a transport.

- :mod:`.facets`: the facets our events carry and the check that an event is one
  ``openlineage-python`` accepts.
- :mod:`.export`: a lineage graph as OpenLineage run events.
- :mod:`.ingest`: OpenLineage run events as lineage (files, or one event at a time).
- :mod:`.transport`: a transport the OpenLineage provider sends its events through.

``openlineage-python`` is an optional dependency (``pip install "airflow-lineage[openlineage]"``);
nothing here is imported unless asked for.
"""
