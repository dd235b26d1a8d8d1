"""Look-ups by key for pages and the API: the case a tracking number names, the category a key
names, the department or person a form field names. No permission check here: the selector or
service that then reads or changes the object makes it; a miss is None, which the caller turns
into its own answer (a form error, a 404)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from civichub.casework.codes import code_matches
from civichub.casework.models import Case, CasePhoto, Category, ContactVerification
from civichub.core.models import Organisation, OrganisationKind, User


def case_find(tracking_number: str) -> Case | None:
    """The case with its scopes (department, community, jurisdiction) loaded."""
    return (
        Case.objects.filter(tracking_number=tracking_number)
        .select_related("department", "community", "jurisdiction")
        .first()
    )


def case_photo_find(case: Case, pk: int) -> CasePhoto | None:
    return case.photos.filter(pk=pk).first()


def category_find(key: str) -> Category | None:
    """Any category, active or not, with its department."""
    return Category.objects.filter(key=key).select_related("department").first() if key else None


def contact_verification_find(pk: int, token: str) -> ContactVerification | None:
    """The verification with this id, only for the client holding the token its start gave:
    the id alone is sequential and guessable."""
    verification = ContactVerification.objects.filter(pk=pk).first()
    if verification is None or not code_matches(verification.token_hash, token):
        return None
    return verification


def departments() -> list[Organisation]:
    """Every department, each organisation's together (the staff page lists them under the city
    or district they belong to)."""
    return list(
        Organisation.objects.filter(kind=OrganisationKind.DEPARTMENT)
        .select_related("parent")
        .order_by("parent__path", "path")
    )


def organisations_by_code(codes: set[str]) -> dict[str, Organisation]:
    """Organisations named by code in a case's history (routing, transfers), to show by name."""
    found = Organisation.objects.filter(code__in=[c for c in codes if c])
    return {o.code: o for o in found}


def department_find(pk: int) -> Organisation | None:
    return Organisation.objects.filter(pk=pk, kind=OrganisationKind.DEPARTMENT).first()


def organisation_find(pk: int) -> Organisation | None:
    return Organisation.objects.filter(pk=pk).first()


def user_find(pk: int, *, active_only: bool = False) -> User | None:
    users = User.objects.filter(is_active=True) if active_only else User.objects.all()
    return users.filter(pk=pk).first()


def operators() -> QuerySet[User]:
    """The active accounts that run the deployment (the operator role, or superusers): who is
    told when the platform itself needs attention."""
    return User.objects.filter(
        Q(role_assignments__role="operator") | Q(is_superuser=True), is_active=True
    ).distinct()
