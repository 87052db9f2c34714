"""Hakeem, Jordan's national EHR (issue 11, HK-1 … HK-3): committed records mapped to HL7 FHIR R4 resources.

``fhir`` maps our records to plain FHIR dicts and validates them (structure with ``fhir.resources`` R4B models,
coded values with our own value-set checks). Transport, sync state and import come in later increments; see
docs/decisions/0023-hakeem-fhir.md and ../shared/design/INTEGRATIONS.md ("Hakeem").
"""
