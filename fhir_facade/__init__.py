"""C-CDA to FHIR R4 conversion and the FHIR REST facade (later milestones)."""

__all__: list[str] = []
