"""Comments and their moderation: held by keyword filters, hidden, released; blocks."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from civichub.broadcast.models import (
    COMMENT_MAX_CHARS,
    KEYWORD_MAX_CHARS,
    Block,
    BroadcastAccount,
    Comment,
    KeywordFilter,
    Post,
)
from civichub.broadcast.services.checks import (
    check_text,
    refuse_blocked,
    signed_in,
    visible_post,
)
from civichub.core.audit import audit_record
from civichub.core.errors import (
    NotFound,
    ValidationFailed,
)
from civichub.core.models import User
from civichub.core.permissions import require


def _held_by_filters(account_id: int, text: str) -> bool:
    """A comment containing one of the account's filtered words waits for review."""
    folded = text.casefold()
    words = KeywordFilter.objects.filter(account_id=account_id).values_list("word", flat=True)
    return any(word.casefold() in folded for word in words)


@transaction.atomic
def comment_create(
    *, actor: User | None, post_id: int, text: str, parent_id: int | None = None
) -> Comment:
    """A comment shows at once, unless it contains a filtered word: then it is held, hidden
    and uncounted, until the account's staff release it."""
    user = signed_in(actor)
    text = check_text("text", text, COMMENT_MAX_CHARS)
    post = visible_post(post_id)
    refuse_blocked(user, post.account_id)
    parent = None
    if parent_id is not None:
        parent = Comment.objects.filter(pk=parent_id, post=post, hidden=False).first()
        if parent is None:
            raise ValidationFailed.on("parent", _("要回复的评论不存在。"))
    held = _held_by_filters(post.account_id, text)
    comment = Comment.objects.create(
        post=post, parent=parent, author=user, text=text, hidden=held, held=held
    )
    if not held:
        Post.objects.filter(pk=post.pk).update(comments_count=F("comments_count") + 1)
    audit_record(
        actor=user,
        action="broadcast.comment.create",
        obj=comment,
        organisation=post.account.organisation,
        changes={"held": held},
    )
    return comment


def _comment_for_moderation(actor: User | None, comment_id: int) -> Comment:
    comment = (
        Comment.objects.select_related("post__account__organisation")
        .select_for_update(of=("self",))
        .filter(pk=comment_id)
        .first()
    )
    if comment is None:
        raise NotFound(_("没有这条评论。"))
    if actor is not None:
        require(actor, "broadcast.comment.moderate", comment.post.account)
    return comment


@transaction.atomic
def comment_hide(*, actor: User | None, comment_id: int, reason: str = "") -> Comment:
    """Hides a visible comment, or keeps a held one hidden for good (it leaves the queue)."""
    comment = _comment_for_moderation(actor, comment_id)
    if comment.hidden and not comment.held:
        return comment
    was_held = comment.held
    comment.hidden, comment.held = True, False
    comment.save(update_fields=["hidden", "held"])
    if not was_held:
        Post.objects.filter(pk=comment.post_id).update(comments_count=F("comments_count") - 1)
    audit_record(
        actor=actor,
        action="broadcast.comment.hide",
        obj=comment,
        purpose=reason,
        organisation=comment.post.account.organisation,
        changes={"was_held": was_held},
    )
    return comment


@transaction.atomic
def comment_unhide(*, actor: User | None, comment_id: int, reason: str = "") -> Comment:
    """Shows a hidden comment again; for a comment held by a keyword filter this is its
    release after review."""
    comment = _comment_for_moderation(actor, comment_id)
    if not comment.hidden:
        return comment
    was_held = comment.held
    comment.hidden, comment.held = False, False
    comment.save(update_fields=["hidden", "held"])
    Post.objects.filter(pk=comment.post_id).update(comments_count=F("comments_count") + 1)
    audit_record(
        actor=actor,
        action="broadcast.comment.release" if was_held else "broadcast.comment.unhide",
        obj=comment,
        purpose=reason,
        organisation=comment.post.account.organisation,
    )
    return comment


def _moderates(actor: User | None, account: BroadcastAccount) -> None:
    if actor is not None:
        require(actor, "broadcast.comment.moderate", account)


@transaction.atomic
def block_create(
    *, actor: User | None, account: BroadcastAccount, user_id: int, reason: str = ""
) -> Block:
    """Bars a user from commenting on and reposting the account's posts. Blocking twice
    keeps the first block."""
    _moderates(actor, account)
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise ValidationFailed.on("user_id", _("没有这个用户。"))
    reason = check_text("reason", reason, 200, required=False)
    block, created = Block.objects.get_or_create(
        account=account, user=user, defaults={"reason": reason, "created_by": actor}
    )
    if created:
        audit_record(
            actor=actor,
            action="broadcast.block.create",
            obj=block,
            organisation=account.organisation,
            purpose=reason,
            changes={"user": user.pk},
        )
    return block


@transaction.atomic
def block_delete(*, actor: User | None, account: BroadcastAccount, user_id: int) -> bool:
    _moderates(actor, account)
    deleted, _rows = Block.objects.filter(account=account, user_id=user_id).delete()
    if deleted:
        audit_record(
            actor=actor,
            action="broadcast.block.delete",
            object_type="broadcast.block",
            object_id=f"{account.pk}:{user_id}",
            organisation=account.organisation,
            changes={"user": user_id},
        )
    return bool(deleted)


@transaction.atomic
def keyword_filter_add(
    *, actor: User | None, account: BroadcastAccount, word: str
) -> KeywordFilter:
    """Comments containing the word (ignoring case) are held for review from now on."""
    _moderates(actor, account)
    word = check_text("word", word, KEYWORD_MAX_CHARS)
    existing = KeywordFilter.objects.filter(account=account, word=word).first()
    if existing is not None:
        return existing
    keyword = KeywordFilter.objects.create(account=account, word=word)
    audit_record(
        actor=actor,
        action="broadcast.keyword_filter.add",
        obj=keyword,
        organisation=account.organisation,
        changes={"word": word},
    )
    return keyword


@transaction.atomic
def keyword_filter_remove(*, actor: User | None, account: BroadcastAccount, filter_id: int) -> bool:
    _moderates(actor, account)
    keyword = KeywordFilter.objects.filter(account=account, pk=filter_id).first()
    if keyword is None:
        return False
    word = keyword.word
    keyword.delete()
    audit_record(
        actor=actor,
        action="broadcast.keyword_filter.remove",
        object_type="broadcast.keywordfilter",
        object_id=str(filter_id),
        organisation=account.organisation,
        changes={"word": word},
    )
    return True
