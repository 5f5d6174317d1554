"""What time it is: one function the app holds (`app.state.clock`), so tests can set the time."""

from collections.abc import Callable
from datetime import datetime

from todo_api.core.db import utcnow

Clock = Callable[[], datetime]
system_clock: Clock = utcnow
