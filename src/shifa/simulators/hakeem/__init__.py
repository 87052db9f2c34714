"""A local Hakeem: a small FHIR R4 server that stores what it receives and can be told to fail or be slow."""
