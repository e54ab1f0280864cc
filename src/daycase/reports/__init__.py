"""Quality reports: facts per case, measures over them, renderers (reports room). Pure."""
