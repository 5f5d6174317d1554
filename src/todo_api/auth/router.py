from typing import Annotated

from fastapi import APIRouter, Depends, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from todo_api.auth.schemas import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenList,
    PasswordChange,
    RefreshRequest,
    Token,
    UserCreate,
    UserPublic,
)
from todo_api.core.http import NO_STORE, ObjectId, errors
from todo_api.deps import AuthServiceDep, ClientAddress, CurrentUser, SessionUser

router = APIRouter(prefix="/auth", tags=["auth"])

LoginForm = Annotated[OAuth2PasswordRequestForm, Depends()]


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    name="register_user",
    responses=errors(409, 413, 422, 429),
)
async def register_user(user_in: UserCreate, auth: AuthServiceDep, client: ClientAddress) -> UserPublic:
    """Create an account."""
    return UserPublic.model_validate(await auth.register(user_in, client))


@router.post("/login", response_model=Token, name="login", responses=errors(401, 413, 422, 429))
async def login(form: LoginForm, auth: AuthServiceDep, client: ClientAddress, response: Response) -> Token:
    """Exchange a username (or email) and password for an access and a refresh token."""
    response.headers.update(NO_STORE)
    return await auth.login(form.username, form.password, client)


@router.post("/refresh", response_model=Token, name="refresh_tokens", responses=errors(401, 413, 422))
async def refresh_tokens(body: RefreshRequest, auth: AuthServiceDep, response: Response) -> Token:
    """Exchange a refresh token for new tokens; the one sent stops working."""
    response.headers.update(NO_STORE)
    return await auth.refresh(body.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, name="logout", responses=errors(413, 422))
async def logout(body: RefreshRequest, auth: AuthServiceDep) -> None:
    """End the login a refresh token belongs to. Logging out twice is no error."""
    await auth.logout(body.refresh_token)


@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    name="change_password",
    responses=errors(401, 403, 413, 422, 429),
)
async def change_password(change: PasswordChange, user: SessionUser, auth: AuthServiceDep) -> None:
    """Change your password; every token issued before stops working."""
    await auth.change_password(user, change)


@router.get("/me", response_model=UserPublic, name="read_current_user", responses=errors(401))
async def read_current_user(user: CurrentUser) -> UserPublic:
    """The signed-in user."""
    return UserPublic.model_validate(user)


@router.delete(
    "/me", status_code=status.HTTP_204_NO_CONTENT, name="delete_current_user", responses=errors(401, 403)
)
async def delete_current_user(user: SessionUser, auth: AuthServiceDep) -> None:
    """Delete your account with all your tasks."""
    await auth.delete_account(user)


INSUFFICIENT = "An API token cannot manage API tokens (`insufficient_scope`)"


@router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiTokenCreated,
    name="create_api_token",
    responses=errors(401, 403, 413, 422, s403=INSUFFICIENT),
)
async def create_api_token(
    token_in: ApiTokenCreate, user: SessionUser, auth: AuthServiceDep, response: Response
) -> ApiTokenCreated:
    """Create a personal API token for scripts and integrations; its secret is shown only now."""
    response.headers.update(NO_STORE)
    return await auth.create_api_token(user, token_in)


@router.get(
    "/tokens",
    response_model=ApiTokenList,
    name="list_api_tokens",
    responses=errors(401, 403, s403=INSUFFICIENT),
)
async def list_api_tokens(user: SessionUser, auth: AuthServiceDep, response: Response) -> ApiTokenList:
    """Your personal API tokens, newest first (without their secrets)."""
    response.headers.update(NO_STORE)
    return await auth.api_tokens_of(user)


@router.delete(
    "/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    name="revoke_api_token",
    responses=errors(401, 403, 404, 422, s403=INSUFFICIENT),
)
async def revoke_api_token(token_id: ObjectId, user: SessionUser, auth: AuthServiceDep) -> None:
    """Revoke a personal API token: it stops working at once."""
    await auth.revoke_api_token(user, token_id)
