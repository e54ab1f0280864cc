"""API room: the FastAPI app over the service layer (`/api/v1`)."""
