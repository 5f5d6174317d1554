"""Tasks: created, read, changed, ordered and completed by the members of their list, as their role
allows; with subtasks, labels, recurrence and a history of completions."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from todo_api.core.clock import Clock, system_clock
from todo_api.core.errors import Forbidden, InvalidField, PreconditionFailed, TaskNotFound
from todo_api.core.http import if_match_allows
from todo_api.core.pagination import page_info
from todo_api.core.security import Caller
from todo_api.core.types import trim
from todo_api.idempotency.service import Answer, IdempotencyService, fingerprint
from todo_api.lists.service import ListService
from todo_api.models import Role, Task, TaskCompletion, TaskStatus
from todo_api.models.task import PUBLIC_FIELDS, TaskRow
from todo_api.tasks import ordering, recurrence
from todo_api.tasks.repository import TaskFilter, TaskRepository
from todo_api.tasks.schemas import (
    Completion,
    CompletionPage,
    CompletionParams,
    Label,
    LabelList,
    TaskCreate,
    TaskListParams,
    TaskMove,
    TaskPage,
    TaskPublic,
    TaskUpdate,
    TrashedTask,
    TrashPage,
    TrashParams,
)

# A task, its parent, grandparent and great-grandparent: no deeper.
MAX_DEPTH = 4


def public_task(row: TaskRow) -> TaskPublic:
    """A row of `PUBLIC_COLUMNS` as the client sees it (a dict first: pydantic reads one three times
    as fast as a row's attributes)."""
    return TaskPublic.model_validate(dict(zip(PUBLIC_FIELDS, row, strict=False)))


def task_etag(task: Task) -> str:
    return version_etag(task.version, task.created_at)


def version_etag(version: int, created_at: datetime) -> str:
    """A strong ETag: the task's version, plus its creation instant so a reused id never collides."""
    created = int(created_at.timestamp() * 1_000_000)
    return f'"{version}-{created:x}"'


def sorted_labels(names: Sequence[str]) -> list[str]:
    return sorted(names, key=str.casefold)


def _invalid(field: str, message: str) -> InvalidField:
    return InvalidField(("body", field), message)


class TaskService:
    def __init__(
        self,
        tasks: TaskRepository,
        lists: ListService,
        idempotency: IdempotencyService,
        clock: Clock = system_clock,
    ) -> None:
        self.tasks = tasks
        self.lists = lists
        self.idempotency = idempotency
        self.clock = clock

    async def create(self, caller: Caller, task_in: TaskCreate, idempotency_key: str | None = None) -> Answer:
        """A new task in a list where the user is an editor (their inbox, or the parent's list, by
        default); with an idempotency key, a retry gets the first answer back."""
        creator = caller.user_id

        async def insert() -> Answer:
            task = await self._insert(creator, task_in)
            return Answer(body=TaskPublic.model_validate(task).model_dump(mode="json"), etag=task_etag(task))

        request = fingerprint(task_in.model_dump(mode="json", exclude_unset=True))
        return await self.idempotency.once(creator, "tasks", idempotency_key, request, insert)

    async def list(self, caller: Caller, params: TaskListParams) -> TaskPage:
        """One page of the tasks on the caller's lists, with the totals a client needs to page on."""
        labels = tuple(dict.fromkeys(key for key in (trim(name).casefold() for name in params.label) if key))
        where = TaskFilter(
            list_id=params.list_id,
            assignee_id=params.assignee_id,
            parent_id=params.parent_id,
            top_level=params.top_level,
            labels=labels,
            status=params.status_filter,
            priority=params.priority,
            search=params.q,
            due_after=params.due_after,
            due_before=params.due_before,
            overdue=params.overdue,
        )
        rows, total = await self.tasks.page_visible(
            caller, where, params.sort.value, params.skip, params.limit, self.clock()
        )
        if not rows:
            # Nothing to show, perhaps because the list or parent asked for is not the caller's to
            # see (a page with rows proves they are: its tasks are on the caller's lists, and a live
            # task's parent is live).
            if params.list_id is not None:
                await self.lists.require_role(caller.user_id, params.list_id, Role.viewer)
            parent = params.parent_id
            if parent is not None and await self.tasks.get_visible(parent, caller.user_id) is None:
                raise TaskNotFound
        return TaskPage(
            items=[public_task(row) for row in rows],
            **page_info(total, params.skip, params.limit),
        )

    async def get(self, caller: Caller, task_id: int) -> TaskRow:
        """What the caller sees of a task on one of their lists (`version` included, for the ETag);
        any other task is as missing as one that never existed."""
        found = await self.tasks.read_visible(task_id, caller)
        if found is None:
            raise TaskNotFound
        return found

    async def replace(self, caller: Caller, task_id: int, task_in: TaskCreate, if_match: str | None) -> Task:
        """PUT: every writable field takes the sent value or its default; list and parent stay
        unless sent."""
        task = await self._get_for_write(caller, task_id, if_match)
        changes = task_in.model_dump()
        for name in ("list_id", "parent_id"):
            if name not in task_in.model_fields_set:
                del changes[name]
        return await self._apply(caller, task, changes)

    async def update(self, caller: Caller, task_id: int, task_in: TaskUpdate, if_match: str | None) -> Task:
        """PATCH: only the fields sent change."""
        task = await self._get_for_write(caller, task_id, if_match)
        return await self._apply(caller, task, task_in.model_dump(exclude_unset=True))

    async def complete(self, caller: Caller, task_id: int, if_match: str | None) -> Task:
        """Complete the task and its open subtasks; a recurring task moves to its next occurrence.
        Completing a completed task changes nothing."""
        task = await self._get_for_write(caller, task_id, if_match)
        if task.status != TaskStatus.completed:
            now = self.clock()
            await self._complete(caller, task, now)
            task.updated_at = now
            await self.tasks.add(task)
            self.tasks.note("task.completed", task)
        return task

    async def move(self, caller: Caller, task_id: int, move: TaskMove, if_match: str | None) -> Task:
        """Place the task after a sibling (or first), under a parent, in a list; its subtasks come
        along. Only the moved task changes (and the list of its subtasks)."""
        task = await self._get_for_write(caller, task_id, if_match)
        sent = move.model_fields_set
        list_id = move.list_id if move.list_id is not None else task.list_id
        if "parent_id" in sent:
            parent_id = move.parent_id
        else:
            parent_id = task.parent_id if list_id == task.list_id else None
        if list_id != task.list_id:
            await self.lists.require_role(caller.user_id, list_id, Role.editor)
            await self._check_assignee(list_id, task.assignee_id)
        if parent_id is not None and (parent_id != task.parent_id or list_id != task.list_id):
            await self._check_parent(caller.user_id, task, parent_id, list_id)
        before, after = await self._gap(task, list_id, parent_id, move.after_id)
        same_place = list_id == task.list_id and parent_id == task.parent_id
        if (
            same_place
            and (before is None or before < task.position)
            and (after is None or task.position < after)
        ):
            return task
        now = self.clock()
        previous = task.list_id
        if list_id != task.list_id:
            await self._move_subtree(task, list_id, now)
        task.list_id, task.parent_id = list_id, parent_id
        task.position = ordering.between(before, after)
        task.updated_at = now
        await self.tasks.add(task)
        self._note_moved(task, previous)
        return task

    async def delete(self, caller: Caller, task_id: int, if_match: str | None) -> None:
        """Move the task to its list's trash; its subtasks go with it."""
        task = await self._get_for_write(caller, task_id, if_match)
        now = self.clock()
        subtasks = await self._subtasks(task)
        for subtask in subtasks:
            subtask.deleted_at, subtask.deleted_by, subtask.trashed_with_id = now, caller.user_id, task.id
            subtask.updated_at = now
        task.deleted_at, task.deleted_by, task.updated_at = now, caller.user_id, now
        await self.tasks.add(task)
        for trashed in (task, *subtasks):
            self.tasks.note("task.deleted", trashed)

    async def trash(self, caller: Caller, params: TrashParams) -> TrashPage:
        """The trash of every list the user can see (or of one), newest deletion first."""
        if params.list_id is not None:
            await self.lists.require_role(caller.user_id, params.list_id, Role.viewer)
        items, total = await self.tasks.trash_page(caller.user_id, params.list_id, params.skip, params.limit)
        return TrashPage(
            items=[TrashedTask.model_validate(task) for task in items],
            **page_info(total, params.skip, params.limit),
        )

    async def restore(self, caller: Caller, task_id: int) -> Task:
        """Bring a trash item back with the subtasks that went with it: under its old parent if that
        is still there, else at the top level of its list."""
        task = await self._trashed_for_write(caller, task_id)
        assert task.id is not None
        now = self.clock()
        subtasks = await self.tasks.trashed_with(task.id)
        for subtask in subtasks:
            subtask.deleted_at, subtask.deleted_by, subtask.trashed_with_id = None, None, None
            subtask.updated_at = now
        if task.parent_id is not None and not await self.tasks.is_live(task.parent_id, task.list_id):
            task.parent_id = None
            task.position = ordering.between(
                await self.tasks.last_position(task.list_id, None, task.id), None
            )
        task.deleted_at, task.deleted_by, task.updated_at = None, None, now
        await self.tasks.add(task)
        for restored in (task, *subtasks):
            self.tasks.note("task.restored", restored)
        return task

    async def delete_for_good(self, caller: Caller, task_id: int) -> None:
        """Delete a trash item, and the subtasks that went with it, for good."""
        task = await self._trashed_for_write(caller, task_id)
        await self._delete_items([task])

    async def purge_trash(self, retention_days: int) -> int:
        """Delete for good what has been in the trash longer than `retention_days`; how many items."""
        items = await self.tasks.trash_older_than(self.clock() - timedelta(days=retention_days))
        await self._delete_items(items)
        return len(items)

    async def _delete_items(self, items: Sequence[Task]) -> None:
        """Trash items, with the subtasks that went with them, go for good. A subtask of theirs
        trashed on its own stays in the trash and will be restored at the top level."""
        going = [task.id for task in items if task.id is not None]
        for item in items:
            assert item.id is not None
            with_it = await self.tasks.trashed_with(item.id)
            going.extend(task.id for task in with_it if task.id is not None)
            for task in (item, *with_it):
                self.tasks.note(
                    "task.deleted", task, snapshot={"task": {"id": task.id, "list_id": task.list_id}}
                )
        for orphan in await self.tasks.trash_items_under(going):
            orphan.parent_id = None
            orphan.position = ordering.between(await self.tasks.last_position(orphan.list_id, None), None)
            await self.tasks.add(orphan)
        for item in items:
            await self.tasks.delete(item)

    async def completions(self, caller: Caller, task_id: int, params: CompletionParams) -> CompletionPage:
        """The task's completions, newest first."""
        if await self.tasks.get_visible(task_id, caller.user_id) is None:
            raise TaskNotFound
        items, total = await self.tasks.completions(task_id, params.skip, params.limit)
        return CompletionPage(
            items=[Completion.model_validate(item) for item in items],
            **page_info(total, params.skip, params.limit),
        )

    async def labels(self, caller: Caller) -> LabelList:
        """Every label on a task the user can see, with how many such tasks carry it."""
        counts = await self.tasks.label_counts(caller.user_id)
        return LabelList(items=[Label(name=name, task_count=count) for name, count in counts])

    async def _insert(self, creator: int, task_in: TaskCreate) -> Task:
        parent = None
        if task_in.parent_id is not None:
            parent = await self._visible_parent(creator, task_in.parent_id)
            if task_in.list_id is not None and task_in.list_id != parent.list_id:
                raise _invalid("parent_id", "the parent must be in the same list")
            levels = len(await self.tasks.ancestry(task_in.parent_id))
            if levels + 1 > MAX_DEPTH:
                raise _invalid("parent_id", f"subtasks go at most {MAX_DEPTH} levels deep")
        if parent is not None:
            list_id = parent.list_id
        elif task_in.list_id is not None:
            list_id = task_in.list_id
        else:
            # The creator's inbox, which only they own, and always will: no role to check.
            list_id = await self.lists.inbox_id(creator)
        if parent is not None or task_in.list_id is not None:
            await self.lists.require_role(creator, list_id, Role.editor)
        await self._check_assignee(list_id, task_in.assignee_id)
        series_start = self._series_start(
            task_in.recurrence, task_in.due_date, task_in.timezone, "recurrence"
        )
        now = self.clock()
        fields = task_in.model_dump(exclude={"list_id", "parent_id", "labels"})
        task = Task(
            **fields,
            list_id=list_id,
            parent_id=task_in.parent_id,
            position=ordering.between(await self.tasks.last_position(list_id, task_in.parent_id), None),
            labels=sorted_labels(task_in.labels),
            series_start=series_start,
            created_by=creator,
            created_at=now,
            updated_at=now,
        )
        if task.status == TaskStatus.completed:
            task.completed_at = now
        await self.tasks.add(task)
        assert task.id is not None
        if task.labels:
            await self.tasks.set_labels(task.id, task.labels)
        if task.status == TaskStatus.completed:
            await self._record(task, creator, now)
        self.tasks.note("task.created", task)
        return task

    async def _trashed_for_write(self, caller: Caller, task_id: int) -> Task:
        found = await self.tasks.get_trashed(task_id, caller.user_id, for_update=True)
        if found is None:
            raise TaskNotFound
        task, role = found
        if not role.allows(Role.editor):
            raise Forbidden
        return task

    async def _get_for_write(self, caller: Caller, task_id: int, if_match: str | None) -> Task:
        """The task, locked for this transaction, if the user's role allows writing it and the
        client's If-Match (if any) still holds: 404, then 403, then 412."""
        found = await self.tasks.get_visible(task_id, caller.user_id, for_update=True)
        if found is None:
            raise TaskNotFound
        task, role = found
        if not role.allows(Role.editor):
            raise Forbidden
        etag = task_etag(task)
        if not if_match_allows(if_match, etag):
            raise PreconditionFailed(etag)
        return task

    async def _apply(self, caller: Caller, task: Task, changes: dict[str, Any]) -> Task:
        """Apply PUT or PATCH changes: structure (list, parent), assignee, recurrence, status, labels."""
        if "labels" in changes:
            changes["labels"] = sorted_labels(changes["labels"])
        changed = {name: value for name, value in changes.items() if getattr(task, name) != value}
        if not changed:
            return task
        now = self.clock()
        previous = task.list_id
        await self._restructure(caller, task, changed, now, sent_parent="parent_id" in changes)
        self._apply_schedule(task, changed)
        status = changed.pop("status", None)
        for name in ("list_id", "parent_id", "due_date", "recurrence", "timezone"):
            changed.pop(name, None)
        for name, value in changed.items():
            setattr(task, name, value)
        if status == TaskStatus.completed:
            await self._complete(caller, task, now)
        elif status is not None:
            task.status, task.completed_at = status, None
        task.updated_at = now
        await self.tasks.add(task)
        if "labels" in changed:
            assert task.id is not None
            await self.tasks.set_labels(task.id, task.labels)
        if task.list_id != previous:
            self._note_moved(task, previous)
        if status == TaskStatus.completed:
            self.tasks.note("task.completed", task)
        elif task.list_id == previous:
            self.tasks.note("task.updated", task)
        return task

    def _note_moved(self, task: Task, previous_list_id: int) -> None:
        """task.moved (its members of the list it left that cannot see the new one hear task.deleted)."""
        moved_lists = previous_list_id if previous_list_id != task.list_id else None
        self.tasks.note("task.moved", task, previous_list_id=moved_lists)

    async def _restructure(
        self, caller: Caller, task: Task, changed: dict[str, Any], now: datetime, *, sent_parent: bool
    ) -> None:
        """A new list or parent (checked), and a new assignee (checked against the list).

        A parent sent with a new list is checked even if it is the current one (it is in the old
        list, so it is a 422); a new list without a parent sent makes the task top-level there.
        """
        list_id = changed.get("list_id", task.list_id)
        if sent_parent and "parent_id" not in changed and list_id != task.list_id:
            changed["parent_id"] = task.parent_id
        parent_id = changed.get("parent_id", task.parent_id if list_id == task.list_id else None)
        if list_id != task.list_id:
            # Moving a task out of a list and into another needs the editor role on both.
            await self.lists.require_role(caller.user_id, list_id, Role.editor)
        if "list_id" in changed or "assignee_id" in changed:
            await self._check_assignee(list_id, changed.get("assignee_id", task.assignee_id))
        if parent_id is not None and (parent_id != task.parent_id or list_id != task.list_id):
            await self._check_parent(caller.user_id, task, parent_id, list_id)
        if list_id == task.list_id and parent_id == task.parent_id:
            return
        # Last among its new siblings (the top-level tasks of a new list, unless a parent was sent).
        last = await self.tasks.last_position(list_id, parent_id, task.id)
        task.position = ordering.between(last, None)
        if list_id != task.list_id:
            await self._move_subtree(task, list_id, now)
        task.list_id, task.parent_id = list_id, parent_id

    def _apply_schedule(self, task: Task, changed: dict[str, Any]) -> None:
        """Due date, recurrence and time zone, checked together: setting the recurrence or the due
        date by hand starts the series again from the due date."""
        rule = changed.get("recurrence", task.recurrence)
        due = changed.get("due_date", task.due_date)
        zone = changed.get("timezone", task.timezone)
        field = "recurrence" if "recurrence" in changed else "due_date"
        if "recurrence" in changed or "due_date" in changed:
            task.series_start = self._series_start(rule, due, zone, field)
        elif "timezone" in changed and rule is not None and task.series_start is not None:
            self._series_start(rule, task.series_start, zone, "timezone")
        task.due_date, task.recurrence, task.timezone = due, rule, zone

    @staticmethod
    def _series_start(rule: str | None, due: datetime | None, zone: str, field: str) -> datetime | None:
        """The first occurrence of a series: the due date, which a recurring task must have."""
        if rule is None:
            return None
        if due is None:
            raise _invalid(field, "a recurring task needs a due_date, its first occurrence")
        try:
            recurrence.check(rule, zone, due)
        except recurrence.InvalidRule as error:
            raise _invalid(field, str(error)) from None
        return due

    async def _complete(self, caller: Caller, task: Task, now: datetime) -> None:
        """`task` enters completed (it was not): recorded; a recurring one moves on instead."""
        await self._record(task, caller.user_id, now)
        subtasks = await self._subtasks(task)
        if task.recurrence and task.series_start and task.due_date:
            after = max(task.due_date, now)
            upcoming = recurrence.next_occurrence(task.recurrence, task.timezone, task.series_start, after)
            if upcoming is not None:
                task.due_date, task.status, task.completed_at = upcoming, TaskStatus.todo, None
                for subtask in subtasks:
                    if subtask.status == TaskStatus.completed:
                        subtask.status, subtask.completed_at, subtask.updated_at = TaskStatus.todo, None, now
                        self.tasks.note("task.updated", subtask)
                return
        task.status, task.completed_at = TaskStatus.completed, now
        for subtask in subtasks:
            if subtask.status != TaskStatus.completed:
                subtask.status, subtask.completed_at, subtask.updated_at = TaskStatus.completed, now, now
                await self._record(subtask, caller.user_id, now)
                self.tasks.note("task.completed", subtask)

    async def _record(self, task: Task, user_id: int, now: datetime) -> None:
        assert task.id is not None
        await self.tasks.add_completion(
            TaskCompletion(task_id=task.id, completed_at=now, due_date=task.due_date, completed_by=user_id)
        )

    async def _subtasks(self, task: Task) -> Sequence[Task]:
        assert task.id is not None
        return await self.tasks.get_many_for_update(
            [task_id for task_id, _ in await self.tasks.subtree(task.id)]
        )

    async def _move_subtree(self, task: Task, list_id: int, now: datetime) -> None:
        """The subtasks go to the task's new list; each assignee must be an editor there too."""
        subtasks = await self._subtasks(task)
        for subtask in subtasks:
            if subtask.assignee_id is not None:
                role = await self.lists.role_of(subtask.assignee_id, list_id)
                if role is None or not role.allows(Role.editor):
                    raise _invalid(
                        "list_id",
                        f"subtask {subtask.id} is assigned to someone who is no editor of that list",
                    )
        for subtask in subtasks:
            previous, subtask.list_id, subtask.updated_at = subtask.list_id, list_id, now
            self.tasks.note("task.moved", subtask, previous_list_id=previous)

    async def _visible_parent(self, user_id: int, parent_id: int) -> Task:
        found = await self.tasks.get_visible(parent_id, user_id)
        if found is None:
            raise _invalid("parent_id", "no such task to be the parent")
        return found[0]

    async def _check_parent(self, user_id: int, task: Task, parent_id: int, list_id: int) -> None:
        """A parent must be visible, in the task's (new) list, not the task or under it, and leave
        the tree at most MAX_DEPTH levels deep."""
        assert task.id is not None
        parent = await self._visible_parent(user_id, parent_id)
        if parent.list_id != list_id:
            raise _invalid("parent_id", "the parent must be in the same list")
        below = await self.tasks.subtree(task.id)
        if parent_id == task.id or parent_id in {task_id for task_id, _ in below}:
            raise _invalid("parent_id", "a task cannot be its own parent, nor its subtask's subtask")
        height = 1 + max((depth for _, depth in below), default=0)
        if len(await self.tasks.ancestry(parent_id)) + height > MAX_DEPTH:
            raise _invalid("parent_id", f"subtasks go at most {MAX_DEPTH} levels deep")

    async def _gap(
        self, task: Task, list_id: int, parent_id: int | None, after_id: int | None
    ) -> tuple[str | None, str | None]:
        """The positions a moved task goes between: after `after_id` (a sibling at the target), or first."""
        if after_id is None:
            return None, await self.tasks.first_position(list_id, parent_id, exclude=task.id)
        sibling = await self.tasks.sibling(after_id, list_id, parent_id)
        if sibling is None or sibling.id == task.id:
            raise _invalid("after_id", "after_id must be a sibling at the target (same list, same parent)")
        following = await self.tasks.position_after(list_id, parent_id, sibling.position, exclude=task.id)
        return sibling.position, following

    async def _check_assignee(self, list_id: int, assignee_id: int | None) -> None:
        """An assignee must be a member of the task's list who may edit its tasks."""
        if assignee_id is None:
            return
        role = await self.lists.role_of(assignee_id, list_id)
        if role is None or not role.allows(Role.editor):
            raise _invalid("assignee_id", "the assignee must be a member of the task's list, editor or more")
