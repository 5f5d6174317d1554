"""Lists, members and roles: who may see and do what on which list."""

from dataclasses import dataclass

from todo_api.core.changes import Event
from todo_api.core.db import utcnow
from todo_api.core.errors import (
    AlreadyMember,
    Forbidden,
    InboxProtected,
    InvalidField,
    ListNotFound,
    NotFound,
    OwnerProtected,
    PreconditionFailed,
    UserNotFound,
)
from todo_api.core.http import if_match_allows
from todo_api.core.pagination import page_info
from todo_api.idempotency.service import Answer, IdempotencyService, fingerprint
from todo_api.lists.repository import ListRepository
from todo_api.lists.schemas import (
    ListCreate,
    ListListParams,
    ListPage,
    ListPublic,
    ListUpdate,
    MemberCreate,
    MemberList,
    MemberPublic,
    MemberUpdate,
    Transfer,
)
from todo_api.models import ListMember, Role, TaskList, User

INBOX_NAME = "Inbox"


def list_etag(task_list: TaskList, role: Role) -> str:
    """A strong ETag: the list's version and creation instant, and the caller's role, which is part
    of what they see (a change of role is a change of the list for them)."""
    created = int(task_list.created_at.timestamp() * 1_000_000)
    return f'"{task_list.version}-{created:x}-{role.value}"'


@dataclass(frozen=True, slots=True)
class ListView:
    """A list as one member sees it."""

    task_list: TaskList
    role: Role

    @property
    def etag(self) -> str:
        return list_etag(self.task_list, self.role)

    def public(self) -> ListPublic:
        return ListPublic.model_validate({**self.task_list.model_dump(), "role": self.role})


def _member(member: ListMember, username: str) -> MemberPublic:
    return MemberPublic(user_id=member.user_id, username=username, role=member.role, added_at=member.added_at)


class ListService:
    def __init__(self, lists: ListRepository, idempotency: IdempotencyService) -> None:
        self.lists = lists
        self.idempotency = idempotency

    async def create_inbox(self, owner_id: int) -> None:
        """The private inbox every account has from its first moment."""
        await self._insert(owner_id, ListCreate(name=INBOX_NAME), is_inbox=True)

    async def create(self, user: User, list_in: ListCreate, idempotency_key: str | None) -> Answer:
        """A new list owned by `user`; with an idempotency key, a retry gets the first answer back."""
        assert user.id is not None
        owner_id = user.id

        async def insert() -> Answer:
            view = await self._insert(owner_id, list_in, is_inbox=False)
            return Answer(body=view.public().model_dump(mode="json"), etag=view.etag)

        request = fingerprint(list_in.model_dump(mode="json", exclude_unset=True))
        return await self.idempotency.once(owner_id, "lists", idempotency_key, request, insert)

    async def page(self, user: User, params: ListListParams) -> ListPage:
        """One page of the lists the user is a member of."""
        assert user.id is not None
        rows, total = await self.lists.page_for_member(user.id, params.sort.value, params.skip, params.limit)
        return ListPage(
            items=[ListView(task_list, role).public() for task_list, role in rows],
            **page_info(total, params.skip, params.limit),
        )

    async def get(self, user: User, list_id: int) -> ListView:
        return await self._view(user, list_id, Role.viewer)

    async def update(self, user: User, list_id: int, list_in: ListUpdate, if_match: str | None) -> ListView:
        """Rename the list or change its description (admin)."""
        view = await self._view(user, list_id, Role.admin, if_match=if_match)
        changes = {
            name: value
            for name, value in list_in.model_dump(exclude_unset=True).items()
            if getattr(view.task_list, name) != value
        }
        if changes:
            for name, value in changes.items():
                setattr(view.task_list, name, value)
            view.task_list.updated_at = utcnow()
            await self.lists.add(view.task_list)
            self.lists.note(Event("list.updated", list_id, list_id))
        return view

    async def delete(self, user: User, list_id: int, if_match: str | None) -> None:
        """Delete the list with all its tasks (owner); an inbox stays."""
        view = await self._view(user, list_id, Role.owner, if_match=if_match, inbox_forbidden=True)
        await self._note_deleted(view.task_list)
        await self.lists.note_hidden(list_id)
        await self.lists.delete(view.task_list)

    async def members(self, user: User, list_id: int) -> MemberList:
        await self._view(user, list_id, Role.viewer)
        return MemberList(items=[_member(member, name) for member, name in await self.lists.members(list_id)])

    async def add_member(self, user: User, list_id: int, member_in: MemberCreate) -> MemberPublic:
        """Share the list with a user, found by username or e-mail (admin)."""
        await self._view(user, list_id, Role.admin, inbox_forbidden=True)
        found = await self.lists.find_user(member_in.user)
        if found is None:
            raise UserNotFound
        user_id, username = found
        if await self.lists.role_of(list_id, user_id) is not None:
            raise AlreadyMember
        member = await self.lists.add_member(
            ListMember(list_id=list_id, user_id=user_id, role=Role(member_in.role.value), added_at=utcnow())
        )
        await self.lists.note_shown(list_id, user_id)
        self.lists.note(Event("member.added", list_id, user_id))
        return _member(member, username)

    async def change_role(
        self, user: User, list_id: int, member_id: int, member_in: MemberUpdate
    ) -> MemberPublic:
        """Give a member another role (admin); the owner's role moves only by transfer."""
        await self._view(user, list_id, Role.admin)
        member, username = await self._member_for_update(list_id, member_id)
        if member.role == Role.owner:
            raise OwnerProtected
        role = Role(member_in.role.value)
        if member.role != role:
            await self.lists.set_role(list_id, member_id, role)
            self.lists.note_role_changed(list_id, member_id)
            self.lists.note(Event("member.updated", list_id, member_id))
            member.role = role
        return _member(member, username)

    async def remove_member(self, user: User, list_id: int, member_id: int) -> None:
        """Remove a member (admin), or leave (anyone): their tasks on the list become unassigned."""
        assert user.id is not None
        leaving = member_id == user.id
        await self._view(user, list_id, Role.viewer if leaving else Role.admin)
        member, username = await self._member_for_update(list_id, member_id)
        if member.role == Role.owner:
            raise OwnerProtected
        gone = {"member": _member(member, username).model_dump(mode="json")}
        self.lists.note(Event("member.removed", list_id, member_id, snapshot=gone))
        await self.lists.remove_member(list_id, member_id)
        await self.lists.note_hidden(list_id, [member_id])
        await self.lists.unassign_tasks(list_id, member_id, utcnow())

    async def transfer(self, user: User, list_id: int, transfer: Transfer, if_match: str | None) -> ListView:
        """Make another member the owner (owner); the old owner stays on as admin."""
        assert user.id is not None
        view = await self._view(user, list_id, Role.owner, if_match=if_match, inbox_forbidden=True)
        if transfer.user_id == user.id:
            return view
        if await self.lists.role_of(list_id, transfer.user_id) is None:
            raise InvalidField(("body", "user_id"), "the new owner must be a member of the list")
        await self.lists.set_role(list_id, transfer.user_id, Role.owner)
        await self.lists.set_role(list_id, user.id, Role.admin)
        view.task_list.owner_id = transfer.user_id
        view.task_list.updated_at = utcnow()
        await self.lists.add(view.task_list)
        self.lists.note(Event("list.updated", list_id, list_id))
        for member_id in (transfer.user_id, user.id):
            self.lists.note(Event("member.updated", list_id, member_id))
        return ListView(view.task_list, Role.admin)

    async def forget_user(self, user_id: int) -> None:
        """Before an account goes: its lists go for every member, and tasks naming it change."""
        for list_id in await self.lists.owned_by(user_id):
            task_list = await self.lists.get(list_id)
            if task_list is not None:
                await self._note_deleted(task_list)
            await self.lists.note_hidden(list_id)
        for member, username in await self.lists.memberships_of(user_id):
            gone = {"member": _member(member, username).model_dump(mode="json")}
            self.lists.note(Event("member.removed", member.list_id, user_id, snapshot=gone))
        await self.lists.note_user_leaving_tasks(user_id)

    async def _note_deleted(self, task_list: TaskList) -> None:
        """list.deleted, for the members it has now (it will have none at commit)."""
        assert task_list.id is not None
        audience = {member.user_id: member.role.value for member, _ in await self.lists.members(task_list.id)}
        snapshot = {"list": task_list.model_dump()}
        self.lists.note(
            Event("list.deleted", task_list.id, task_list.id, snapshot=snapshot, audience=audience)
        )

    async def refuse_inbox(self, user: User, list_id: int) -> None:
        """409 inbox_protected for the user's own inbox: checked before anything else about a
        request that would delete, share or transfer it."""
        assert user.id is not None
        found = await self.lists.get_for_member(list_id, user.id)
        if found is not None and found[0].is_inbox:
            raise InboxProtected

    async def require_role(self, user_id: int, list_id: int, needed: Role) -> Role:
        """The caller's role on a list, if it allows `needed`: ListNotFound for a list they cannot
        see, Forbidden for one they see with too small a role."""
        role = await self.lists.role_of(list_id, user_id)
        if role is None:
            raise ListNotFound
        if not role.allows(needed):
            raise Forbidden
        return role

    async def role_of(self, user_id: int, list_id: int) -> Role | None:
        """A user's role on a list, or None if they are no member."""
        return await self.lists.role_of(list_id, user_id)

    async def inbox_id(self, user_id: int) -> int:
        inbox = await self.lists.inbox_id(user_id)
        assert inbox is not None, "every account has an inbox"
        return inbox

    async def _insert(self, owner_id: int, list_in: ListCreate, *, is_inbox: bool) -> ListView:
        now = utcnow()
        task_list = await self.lists.add(
            TaskList(
                name=list_in.name,
                description=list_in.description,
                is_inbox=is_inbox,
                owner_id=owner_id,
                created_at=now,
                updated_at=now,
            )
        )
        assert task_list.id is not None
        await self.lists.add_member(
            ListMember(list_id=task_list.id, user_id=owner_id, role=Role.owner, added_at=now)
        )
        return ListView(task_list, Role.owner)

    async def _view(
        self,
        user: User,
        list_id: int,
        needed: Role,
        *,
        if_match: str | None = None,
        inbox_forbidden: bool = False,
    ) -> ListView:
        """The list as `user` sees it, if their role allows `needed` (and If-Match holds).

        For a write it is locked until the transaction ends. Checks, in order: 404 for a list the
        user cannot see, 409 for their inbox where that is refused, 403 for too small a role, 412.
        """
        assert user.id is not None
        writing = needed != Role.viewer
        found = await self.lists.get_for_member(list_id, user.id, for_update=writing)
        if found is None:
            raise ListNotFound
        view = ListView(*found)
        if inbox_forbidden and view.task_list.is_inbox:
            raise InboxProtected
        if not view.role.allows(needed):
            raise Forbidden
        if not if_match_allows(if_match, view.etag):
            raise PreconditionFailed(view.etag)
        return view

    async def _member_for_update(self, list_id: int, member_id: int) -> tuple[ListMember, str]:
        found = await self.lists.get_member(list_id, member_id, for_update=True)
        if found is None:
            raise NotFound("no member with this id on the list")
        return found
