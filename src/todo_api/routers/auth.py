from typing import Annotated

from fastapi import APIRouter, Depends, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from todo_api.deps import AuthServiceDep, CurrentUser
from todo_api.routers.responses import errors
from todo_api.schemas.user import Token, UserCreate, UserPublic

router = APIRouter(prefix="/auth", tags=["auth"])

LoginForm = Annotated[OAuth2PasswordRequestForm, Depends()]


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    name="register_user",
    responses=errors(409, 413, 422),
)
async def register_user(user_in: UserCreate, auth: AuthServiceDep) -> UserPublic:
    """Create an account."""
    return UserPublic.model_validate(await auth.register(user_in))


@router.post("/login", response_model=Token, name="login", responses=errors(401, 413, 422))
async def login(form: LoginForm, auth: AuthServiceDep, response: Response) -> Token:
    """Exchange a username (or email) and password for a bearer token."""
    response.headers["Cache-Control"] = "no-store"
    return await auth.login(form.username, form.password)


@router.get("/me", response_model=UserPublic, name="read_current_user", responses=errors(401))
async def read_current_user(user: CurrentUser) -> UserPublic:
    """The signed-in user."""
    return UserPublic.model_validate(user)
