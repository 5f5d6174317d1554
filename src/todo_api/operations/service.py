from todo_api.core.db import Database
from todo_api.core.errors import DatabaseUnavailable


class HealthService:
    def __init__(self, database: Database, timeout: float) -> None:
        self.database = database
        self.timeout = timeout

    async def check_database(self) -> None:
        """Raise DatabaseUnavailable unless a round trip completes within the timeout."""
        if not await self.database.ping(self.timeout):
            raise DatabaseUnavailable
