from todo_api.config import Settings
from todo_api.errors import InvalidCredentials, InvalidToken, UserExists
from todo_api.models import User
from todo_api.repositories.user import UserRepository
from todo_api.schemas.user import Token, UserCreate
from todo_api.security import PasswordHasher, create_access_token, decode_access_token


class AuthService:
    def __init__(self, users: UserRepository, hasher: PasswordHasher, settings: Settings) -> None:
        self.users = users
        self.hasher = hasher
        self.settings = settings

    async def register(self, user_in: UserCreate) -> User:
        """Create a user; the username and email must be free whatever their case."""
        if await self.users.exists(user_in.username, user_in.email):
            raise UserExists
        password_hash = await self.hasher.hash(user_in.password)
        user = User(username=user_in.username, email=user_in.email.lower(), password_hash=password_hash)
        return await self.users.add(user)

    async def login(self, login: str, password: str) -> Token:
        """A token for the user whose username or email is `login`, if the password matches."""
        user = await self.users.get_by_login(login)
        # Verify even for an unknown user (against a dummy hash): both failures cost the same.
        verified = await self.hasher.verify(user.password_hash if user else None, password)
        if user is None or not verified:
            raise InvalidCredentials
        if self.hasher.needs_rehash(user.password_hash):
            user.password_hash = await self.hasher.hash(password)
        assert user.id is not None
        access = create_access_token(
            user.id,
            secret_key=self.settings.secret_key,
            expires_minutes=self.settings.access_token_expire_minutes,
        )
        return Token(access_token=access.token, expires_in=access.expires_in)

    async def authenticate(self, token: str) -> User:
        """The user a bearer token belongs to; raises InvalidToken or TokenExpired."""
        user_id = decode_access_token(token, secret_key=self.settings.secret_key)
        user = await self.users.get(user_id)
        if user is None:
            raise InvalidToken
        return user
