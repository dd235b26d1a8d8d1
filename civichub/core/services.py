"""Every write to core's tables. Keyword-only, typed, atomic, permission-checked and audited.

`actor=None` means the system itself (migrations, seeding, a scheduled task acting on its own);
such calls skip the permission check but are still audited as "system:<channel>".
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.core import crypto, events, geo, hooks
from civichub.core.audit import audit_record
from civichub.core.errors import Conflict, ValidationFailed
from civichub.core.identity import birth_year, identity_number_error
from civichub.core.models import (
    AREA_CHILDREN,
    ApiToken,
    CoordinateSystem,
    Organisation,
    OrganisationKind,
    Resident,
    RoleAssignment,
    User,
)
from civichub.core.permissions import clear_cache, require
from civichub.core.registry import all_roles


def _check(actor: Any, action: str, obj: Any = None) -> None:
    if actor is not None:
        require(actor, action, obj)


# Organisations ---------------------------------------------------------------------------


@transaction.atomic
def organisation_create(
    *,
    actor: User | None,
    kind: str,
    name: str,
    code: str,
    parent: Organisation | None = None,
    name_en: str = "",
    function: str = "",
) -> Organisation:
    if kind not in OrganisationKind.values:
        raise ValidationFailed.on("kind", _("未知的组织机构类型：%(kind)s。") % {"kind": kind})
    if parent is None and kind != OrganisationKind.CITY:
        raise ValidationFailed(
            _("只有市级机构可以作为顶层机构。"), errors={"parent": [_("请选择上级机构。")]}
        )
    if parent is not None and kind not in AREA_CHILDREN[parent.kind]:
        raise ValidationFailed.on(
            "kind",
            _("“%(kind)s”不能设在“%(parent)s”之下。")
            % {
                "kind": OrganisationKind(kind).label,
                "parent": OrganisationKind(parent.kind).label,
            },
        )
    if kind == OrganisationKind.DEPARTMENT and not function:
        raise ValidationFailed.on("function", _("部门须注明职能。"))
    if not name.strip():
        raise ValidationFailed.on("name", _("请填写名称。"))
    _check(actor, "core.organisation.manage", parent)
    if Organisation.objects.filter(code=code).exists():
        message = _("机构代码 %(code)s 已被使用。") % {"code": code}
        raise Conflict(message, errors={"code": [message]})
    organisation = Organisation(
        kind=kind,
        name=name.strip(),
        name_en=name_en.strip(),
        code=code,
        parent=parent,
        function=function,
        depth=(parent.depth + 1) if parent else 0,
        path="",
    )
    organisation.save()
    organisation.path = f"{parent.path if parent else '/'}{organisation.pk}/"
    organisation.save(update_fields=["path"])
    audit_record(
        actor=actor,
        action="organisation.create",
        obj=organisation,
        changes={"kind": kind, "name": name, "code": code},
    )
    return organisation


# Accounts and roles ----------------------------------------------------------------------


@transaction.atomic
def user_create(
    *,
    actor: User | None,
    username: str,
    password: str | None,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    phone: str = "",
    language: str = "zh-hans",
    resident: Resident | None = None,
    validate: bool = True,
) -> User:
    _check(actor, "core.user.manage")
    if User.objects.filter(username=username).exists():
        message = _("该用户名已被使用。")
        raise Conflict(message, errors={"username": [message]})
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        phone=phone,
        language=language,
        resident=resident,
    )
    if password is None:
        user.set_unusable_password()
    else:
        if validate:
            try:
                validate_password(password, user)
            except DjangoValidationError as exc:
                raise ValidationFailed(
                    _("密码强度不够。"), errors={"password": list(exc.messages)}
                ) from exc
        user.set_password(password)
    user.save()
    audit_record(
        actor=actor,
        action="user.create",
        obj=user,
        changes={"username": username, "resident": resident.pk if resident else None},
    )
    return user


@transaction.atomic
def user_set_password(*, actor: User, user: User, old_password: str, new_password: str) -> None:
    if actor.pk != user.pk:
        _check(actor, "core.user.manage")
    elif not user.check_password(old_password):
        raise ValidationFailed.on("old_password", _("当前密码不正确。"))
    try:
        validate_password(new_password, user)
    except DjangoValidationError as exc:
        raise ValidationFailed(
            _("新密码强度不够。"), errors={"new_password": list(exc.messages)}
        ) from exc
    user.set_password(new_password)
    user.save(update_fields=["password"])
    audit_record(actor=actor, action="user.password_change", obj=user)
    # Notify tells the account holder, so a change they did not make does not go unnoticed.
    hooks.password_changed.send(
        hooks.PasswordChanged(user=user, actor=actor, at=timezone.localtime())
    )


@transaction.atomic
def user_set_language(*, actor: User, language: str) -> None:
    if language not in {"zh-hans", "en"}:
        raise ValidationFailed.on(
            "language", _("不支持该语言：%(language)s。") % {"language": language}
        )
    actor.language = language
    actor.save(update_fields=["language"])
    audit_record(actor=actor, action="user.language", obj=actor, changes={"language": language})


@transaction.atomic
def role_grant(
    *, actor: User | None, user: User, role: str, organisation: Organisation
) -> RoleAssignment:
    if role not in all_roles():
        raise ValidationFailed.on("role", _("未知角色：%(role)s。") % {"role": role})
    _check(actor, "core.role.manage", organisation)
    try:
        with transaction.atomic():
            assignment = RoleAssignment.objects.create(
                user=user, role=role, organisation=organisation
            )
    except IntegrityError as exc:
        raise Conflict(_("该用户在此机构已有这个角色。")) from exc
    clear_cache(user)
    audit_record(
        actor=actor,
        action="role.grant",
        obj=user,
        organisation=organisation,
        changes={"role": role, "organisation": organisation.code},
    )
    return assignment


@transaction.atomic
def role_revoke(*, actor: User | None, assignment: RoleAssignment) -> None:
    _check(actor, "core.role.manage", assignment.organisation)
    user, organisation, role = assignment.user, assignment.organisation, assignment.role
    assignment.delete()
    clear_cache(user)
    audit_record(
        actor=actor,
        action="role.revoke",
        obj=user,
        organisation=organisation,
        changes={"role": role, "organisation": organisation.code},
    )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, actor: User, name: str) -> tuple[ApiToken, str]:
    """Returns the token record and the secret, which is shown once and never stored."""
    if not name.strip():
        raise ValidationFailed.on("name", _("请为令牌命名。"))
    secret = "chb_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=actor, name=name.strip()[:100], token_hash=_token_hash(secret), prefix=secret[:8]
    )
    audit_record(actor=actor, action="api_token.create", obj=token)
    return token, secret


@transaction.atomic
def api_token_revoke(*, actor: User, token: ApiToken) -> None:
    if token.user_id != actor.pk:
        _check(actor, "core.user.manage")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(actor=actor, action="api_token.revoke", obj=token)
    # The streams the token opened end with it.
    events.publish([events.credential_channel(token.token_hash)], events.Event(events.STREAM_END))


def api_token_authenticate(secret: str) -> User | None:
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=_token_hash(secret), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    # Touch at most once a minute: a write per request would serialise API reads on SQLite.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


# Residents -------------------------------------------------------------------------------


def place_errors(latitude: float | None, longitude: float | None, crs: str) -> dict[str, list[str]]:
    """What is wrong with a place given as a latitude, a longitude and their coordinate
    system (keys `crs` and `location`); empty when nothing is. Both or neither coordinate."""
    errors: dict[str, list[str]] = {}
    if crs not in CoordinateSystem.values:
        errors["crs"] = [_("未知的坐标系：%(crs)s。") % {"crs": crs}]
    if (latitude is None) != (longitude is None):
        errors["location"] = [_("请同时填写纬度和经度，或都不填写。")]
    elif (
        latitude is not None
        and longitude is not None
        and not (-90 <= latitude <= 90 and -180 <= longitude <= 180)
    ):
        errors["location"] = [_("纬度或经度超出范围。")]
    return errors


def resident_derived_fields(
    *,
    community: Organisation,
    latitude: float | None,
    longitude: float | None,
    crs: str,
    identity_number: str | None,
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    if community.kind != OrganisationKind.COMMUNITY:
        errors["community"] = [_("所选机构不是社区。")]
    errors.update(place_errors(latitude, longitude, crs))
    values: dict[str, Any] = {}
    if identity_number:
        number = crypto.normalise_identity_number(identity_number)
        problem = identity_number_error(number)
        if problem:
            errors["identity_number"] = [problem]
        else:
            values.update(
                identity_encrypted=crypto.encrypt_identity(number),
                identity_hash=crypto.identity_lookup_hash(number),
                identity_last4=number[-4:],
                birth_year=birth_year(number),
            )
    if errors:
        raise ValidationFailed(_("居民信息有误。"), errors=errors)
    if latitude is not None and longitude is not None and crs in CoordinateSystem.values:
        values["wgs84_latitude"], values["wgs84_longitude"] = geo.to_wgs84(latitude, longitude, crs)
    else:
        values["wgs84_latitude"] = values["wgs84_longitude"] = None
    return values


def _refuse_identity_taken(values: dict[str, Any], *, resident: Resident | None = None) -> None:
    """One identity number, one resident: a number another resident holds is a conflict (found
    under any key while a rotation is under way)."""
    encrypted = values.get("identity_encrypted")
    if not encrypted:
        return
    digests = crypto.identity_lookup_hashes(crypto.decrypt_identity(encrypted))
    others = Resident.objects.filter(identity_hash__in=digests)
    if resident is not None:
        others = others.exclude(pk=resident.pk)
    if others.exists():
        message = _("已有居民登记了这个身份证号。")
        raise Conflict(message, errors={"identity_number": [message]})


@transaction.atomic
def resident_create(
    *,
    actor: User | None,
    name: str,
    community: Organisation,
    phone: str = "",
    address: str = "",
    name_en: str = "",
    latitude: float | None = None,
    longitude: float | None = None,
    crs: str = CoordinateSystem.GCJ02,
    identity_number: str | None = None,
) -> Resident:
    _check(actor, "core.resident.create", community)
    if not name.strip():
        raise ValidationFailed.on("name", _("请填写姓名。"))
    values = resident_derived_fields(
        community=community,
        latitude=latitude,
        longitude=longitude,
        crs=crs,
        identity_number=identity_number,
    )
    _refuse_identity_taken(values)
    resident = Resident.objects.create(
        name=name.strip(),
        name_en=name_en,
        phone=phone,
        address=address,
        community=community,
        latitude=latitude,
        longitude=longitude,
        crs=crs,
        **values,
    )
    audit_record(
        actor=actor,
        action="resident.create",
        obj=resident,
        changes={
            "community": community.code,
            "identity_number": "set" if identity_number else "none",
        },
    )
    return resident


_RESIDENT_EDITABLE = {"name", "name_en", "phone", "address", "latitude", "longitude", "crs"}


def _nulls_resolved(changes: dict[str, Any]) -> dict[str, Any]:
    """A null in a change clears the field, as in a JSON merge patch: a nullable field becomes
    null, a text field that may be empty becomes empty; a field that must hold a value
    refuses it (a 422 naming the field, never the database's NOT NULL)."""
    resolved = dict(changes)
    refused: dict[str, list[str]] = {}
    for name, value in changes.items():
        if value is not None:
            continue
        field = Resident._meta.get_field(name)
        if getattr(field, "null", False):
            continue
        if getattr(field, "blank", False) and isinstance(field, models.CharField):
            resolved[name] = ""
        else:
            refused[name] = [_("此字段不能为空。")]
    if refused:
        raise ValidationFailed(_("有字段不能为空。"), errors=refused)
    return resolved


@transaction.atomic
def resident_update(
    *,
    actor: User | None,
    resident: Resident,
    changes: dict[str, Any],
    community: Organisation | None = None,
    identity_number: str | None = None,
) -> Resident:
    _check(actor, "core.resident.change", resident)
    unknown = set(changes) - _RESIDENT_EDITABLE
    if unknown:
        raise ValidationFailed(
            _("这些字段不能修改。"), errors={f: [_("此字段不能修改。")] for f in sorted(unknown)}
        )
    changes = _nulls_resolved(changes)
    if community is not None and community.pk != resident.community_id:
        _check(actor, "core.resident.change", community)
    merged = {f: changes.get(f, getattr(resident, f)) for f in ("latitude", "longitude", "crs")}
    values = resident_derived_fields(
        community=community or resident.community, identity_number=identity_number, **merged
    )
    _refuse_identity_taken(values, resident=resident)
    before = {f: getattr(resident, f) for f in changes}
    for field, value in {**changes, **values}.items():
        setattr(resident, field, value)
    if community is not None:
        resident.community = community
    resident.updated_at = timezone.now()
    resident.save()
    diff = {f: [before[f], changes[f]] for f in changes if before[f] != changes[f]}
    if identity_number:
        diff["identity_number"] = ["…", "changed"]
    if community is not None:
        diff["community"] = [None, community.code]
    audit_record(actor=actor, action="resident.update", obj=resident, changes=diff)
    return resident


def database_backup_record(*, output: str, media: str | None) -> None:
    """A backup reads every resident's personal data: the audit log says when and where to."""
    with transaction.atomic():
        audit_record(
            actor=None,
            action="backup.created",
            object_type="database",
            object_id=str(connection.vendor),
            purpose="backup",
            changes={"output": output, "media": media or ""},
        )


def database_restore_record(*, backup: str, into: str, media: str | None) -> None:
    with transaction.atomic():
        audit_record(
            actor=None,
            action="backup.restored",
            object_type="database",
            object_id=str(connection.vendor),
            purpose="restore",
            changes={"backup": backup, "into": into, "media": media or ""},
        )


def resident_identity_key_rotate(*, after_id: int, batch_size: int) -> tuple[int, int, int]:
    """Re-encrypts, under the newest identity key, the identity numbers of the next `batch_size`
    residents after `after_id` (in id order) that are still under an older key: one transaction
    and one audit row per batch, so an interrupted rotation resumes where it stopped (a number
    already under the newest key is skipped). Returns (last id seen, scanned, re-encrypted);
    last id 0 when nothing is left. The lookup hash is recomputed under the newest key with it,
    so that once the rotation is done the old key can go (crypto's docstring)."""
    with transaction.atomic():
        batch = list(
            Resident.objects.select_for_update()
            .filter(pk__gt=after_id, identity_encrypted__isnull=False)
            .order_by("pk")
            .only("pk", "identity_encrypted", "identity_hash")[:batch_size]
        )
        stale = []
        for resident in batch:
            assert resident.identity_encrypted is not None
            number = crypto.decrypt_identity(resident.identity_encrypted)
            digest = crypto.identity_lookup_hash(number)
            if crypto.encrypted_with_newest_key(resident.identity_encrypted) and (
                resident.identity_hash == digest
            ):
                continue
            resident.identity_encrypted = crypto.reencrypt_with_newest_key(
                resident.identity_encrypted
            )
            resident.identity_hash = digest
            stale.append(resident)
        Resident.objects.bulk_update(stale, ["identity_encrypted", "identity_hash"])
        if stale:
            audit_record(
                actor=None,
                action="resident.identity_key_rotated",
                object_type="core.resident",
                object_id=f"{stale[0].pk}-{stale[-1].pk}",
                purpose="identity key rotation",
                changes={"residents": [r.pk for r in stale]},
            )
    return (batch[-1].pk if batch else 0), len(batch), len(stale)
