"""factory-boy factories for every model the tests build."""

import factory
from django.contrib.auth import get_user_model
from factory.django import DjangoModelFactory

from directory import models as directory
from directory.choices import MemberRole, StaffRole
from directory.permissions import grant_access

PASSWORD = "exitdesk-test-pw"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password(PASSWORD)


class StaffUserFactory(UserFactory):
    is_staff = True


class EnterpriseFactory(DjangoModelFactory):
    class Meta:
        model = directory.Enterprise

    name = factory.Sequence(lambda n: f"企业{n}")
    code = factory.Sequence(lambda n: f"ent{n}")


class DepartmentFactory(DjangoModelFactory):
    class Meta:
        model = directory.Department

    enterprise = factory.SubFactory(EnterpriseFactory)
    name = factory.Sequence(lambda n: f"部门{n}")
    parent = None


class MemberFactory(DjangoModelFactory):
    class Meta:
        model = directory.Member

    user = factory.SubFactory(UserFactory)
    enterprise = factory.SubFactory(EnterpriseFactory)
    department = factory.SubFactory(
        DepartmentFactory, enterprise=factory.SelfAttribute("..enterprise")
    )
    name = factory.Faker("name", locale="zh_CN")
    employee_number = factory.Sequence(lambda n: f"E{n:06d}")
    role = MemberRole.MEMBER


class SuperAdminFactory(MemberFactory):
    role = MemberRole.SUPER_ADMIN


class _OwnedFactory(DjangoModelFactory):
    owner = factory.SubFactory(MemberFactory)
    enterprise = factory.SelfAttribute("owner.enterprise")
    name = factory.Sequence(lambda n: f"resource {n}")


class ExternalContactFactory(_OwnedFactory):
    class Meta:
        model = directory.ExternalContact

    name = factory.Faker("name", locale="zh_CN")
    company = factory.Faker("company", locale="zh_CN")


class CustomerGroupFactory(_OwnedFactory):
    class Meta:
        model = directory.CustomerGroup

    member_count = 30


class AppAuthorizationFactory(_OwnedFactory):
    class Meta:
        model = directory.AppAuthorization


class ThirdPartyBindingFactory(_OwnedFactory):
    class Meta:
        model = directory.ThirdPartyBinding

    provider = "CRM"


class ApprovalTemplateFactory(_OwnedFactory):
    class Meta:
        model = directory.ApprovalTemplate


class SharedCalendarFactory(_OwnedFactory):
    class Meta:
        model = directory.SharedCalendar


# One factory per model of directory.models.OWNED_RESOURCE_MODELS, in the same order.
OWNED_RESOURCE_FACTORIES = (
    ExternalContactFactory,
    CustomerGroupFactory,
    AppAuthorizationFactory,
    ThirdPartyBindingFactory,
    ApprovalTemplateFactory,
    SharedCalendarFactory,
)


class EnterpriseAccessFactory(DjangoModelFactory):
    class Meta:
        model = directory.EnterpriseAccess

    user = factory.SubFactory(StaffUserFactory)
    enterprise = factory.SubFactory(EnterpriseFactory)
    role = StaffRole.HR


class GrantFactory(EnterpriseAccessFactory):
    """An access granted as the application grants it (grant_access): with the role's group."""

    @classmethod
    def _create(cls, model_class, *, user, enterprise, role):
        return grant_access(user=user, enterprise=enterprise, role=role)


class StaffFactory(StaffUserFactory):
    """A staff user granted `enterprise` as `role` ("hr", "it" or "compliance"), in that role's
    group: `StaffFactory(enterprise=enterprise, role="hr")`."""

    class Meta:
        skip_postgeneration_save = True  # the grant saves what it changes

    class Params:
        enterprise = factory.SubFactory(EnterpriseFactory)
        role = StaffRole.HR

    grant = factory.RelatedFactory(
        GrantFactory,
        factory_related_name="user",
        enterprise=factory.SelfAttribute("..enterprise"),
        role=factory.SelfAttribute("..role"),
    )
