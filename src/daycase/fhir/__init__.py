"""FHIR R4 exchange (fhir room): a finished case as coded resources, in plain JSON."""
