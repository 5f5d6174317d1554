"""Business rules: they take and return schemas and models and raise domain errors."""
