"""What each new member owns (D-4), by the kind of their department and whether they lead it.

External contacts and customer groups go mostly to sales, app authorizations to R&D and IT,
third-party bindings to the departments whose systems they connect (CRM, finance, HR), approval
templates to the heads of HR, finance and 行政, shared calendars to department heads. And the spec's
case: the 销售总监 owns exactly 5 customer groups and a few hundred external contacts.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import TYPE_CHECKING

from directory.models import (
    AppAuthorization,
    ApprovalTemplate,
    CustomerGroup,
    ExternalContact,
    SharedCalendar,
    ThirdPartyBinding,
)

from .names import company, person_name

if TYPE_CHECKING:
    from .seeder import NewMember

GROUP_SUFFIXES = ("客户交流群", "项目沟通群", "VIP服务群", "合作伙伴群", "售后服务群", "商务对接群")
APPS = (
    "周报机器人", "报销助手", "考勤同步", "CRM 数据同步", "工单提醒机器人", "代码评审通知",
    "值班提醒", "会议纪要助手", "合同归档", "发布流水线通知", "访客登记", "资产盘点",
)  # fmt: skip
APP_SCOPES = ("通讯录只读", "发送应用消息", "审批读写", "日程读写", "客户联系", "微盘读写")
# (provider, what the binding is for) by department kind.
BINDINGS = {
    "sales": (
        ("纷享销客 CRM", "客户数据同步"), ("Salesforce", "商机同步"), ("销售易 CRM", "线索同步"),
    ),
    "finance": (("金蝶云星空", "费用报销对接"), ("用友 U8+", "凭证同步")),
    "hr": (("北森", "入离职同步"), ("Moka 招聘", "招聘流程对接")),
    "marketing": (("巨量引擎", "广告线索回传"), ("腾讯广告", "广告线索回传")),
    "rd": (("GitHub", "代码仓库通知"), ("Jira", "工单同步")),
    "it": (("Jira", "IT 工单同步"), ("阿里云", "云资源告警")),
}  # fmt: skip
TEMPLATES = {
    "hr": ("请假申请", "加班申请", "入职审批", "转正申请", "离职申请", "调岗申请"),
    "finance": ("费用报销", "付款申请", "借款申请", "开票申请"),
    "admin": ("用印申请", "物品领用", "会议室预定", "用车申请"),
    "purchase": ("采购申请", "供应商准入"),
    "legal": ("合同审批", "法律咨询"),
    "it": ("账号开通申请", "设备申领"),
    "sales": ("销售合同审批", "折扣申请", "样品申请"),
}
CALENDAR_SUFFIXES = ("团队日历", "值班表", "周会", "排期")


class ResourcePlanner:
    """The resources of new members, as unsaved rows; every random choice from `rng`."""

    def __init__(self, rng: random.Random, *, enterprise_id: int, enterprise_size: int):
        self.rng = rng
        self.enterprise_id = enterprise_id
        self.enterprise_size = enterprise_size  # members the enterprise will have

    def resources_of(self, new: NewMember) -> Iterator:
        """What one new member owns, by the kind of their department and whether they lead it."""
        rng, kind, head = self.rng, new.home.kind, new.heads
        # Ids rather than instances: cheaper to set on 100,000 rows, and all bulk_create needs.
        owner = {"enterprise_id": self.enterprise_id, "owner_id": new.member.pk}
        if head is not None and head.key == ("销售中心",):
            yield from self.sales_director_resources(new, owner)
            return

        contacts = groups = 0
        if kind == "sales":
            contacts = rng.randint(10, 30) if head else rng.randint(2, 8)
            groups = rng.choices((0, 1, 2, 3), (4, 3, 2, 1))[0] + (1 if head else 0)
        elif kind == "cs" and rng.random() < 0.2:
            contacts, groups = rng.randint(1, 5), rng.randint(0, 1)
        elif kind == "marketing" and rng.random() < 0.1:
            contacts = rng.randint(1, 3)
        yield from (self.external_contact(owner) for _ in range(contacts))
        yield from (self.customer_group(owner) for _ in range(groups))

        # Self-built apps are built by engineers and IT, now and then by someone else.
        app_chance = {"rd": 0.06, "it": 0.3}.get(kind, 0.005)
        if head and kind in ("rd", "it"):
            app_chance += 0.3
        if rng.random() < app_chance:
            for app in rng.sample(APPS, rng.randint(1, 2)):
                scopes = ",".join(rng.sample(APP_SCOPES, rng.randint(1, 3)))
                yield AppAuthorization(**owner, name=app, scopes=scopes)

        binding_chance = {"sales": 0.35, "finance": 0.3, "hr": 0.2, "marketing": 0.15, "rd": 0.05,
                          "it": 0.2}.get(kind, 0.0)  # fmt: skip
        if kind in BINDINGS and (head or rng.random() < binding_chance):
            provider, purpose = rng.choice(BINDINGS[kind])
            yield self.binding(owner, new, provider, purpose)

        if kind in TEMPLATES:
            if head and head.depth <= 2:  # a 部门's head owns its department's approval flows
                yield from (self.template(owner, name) for name in TEMPLATES[kind][:3])
            elif rng.random() < (0.1 if kind != "sales" else 0.01):
                yield self.template(owner, rng.choice(TEMPLATES[kind]))

        if head and rng.random() < 0.5:
            yield self.calendar(owner, f"{head.name}{rng.choice(CALENDAR_SUFFIXES)}")
        if kind == "admin" and head and head.depth == 2:
            yield self.calendar(owner, "会议室预定")

    def sales_director_resources(self, new: NewMember, owner: dict) -> Iterator:
        """The spec's case: exactly 5 customer groups and a few hundred customers (fewer in a
        tiny demo enterprise), a CRM bound to the director's account, a calendar, a template."""
        contacts = min(300, max(20, self.enterprise_size // 3))
        yield from (self.external_contact(owner) for _ in range(contacts))
        yield from (self.customer_group(owner) for _ in range(5))
        yield self.binding(owner, new, "纷享销客 CRM", "客户数据同步")
        yield self.binding(owner, new, "Salesforce", "海外商机同步")
        yield self.template(owner, "销售合同审批")
        yield self.calendar(owner, "销售中心周会")

    def external_contact(self, owner: dict) -> ExternalContact:
        surname, given = person_name(self.rng)
        phone = f"1{self.rng.choice('35789')}{self.rng.randrange(10**9):09d}"
        full_name = company(self.rng)[1]
        return ExternalContact(**owner, name=surname + given, company=full_name, phone=phone)

    def customer_group(self, owner: dict) -> CustomerGroup:
        name = company(self.rng)[0] + self.rng.choice(GROUP_SUFFIXES)
        return CustomerGroup(**owner, name=name, member_count=self.rng.randint(3, 180))

    def binding(
        self, owner: dict, new: NewMember, provider: str, purpose: str
    ) -> ThirdPartyBinding:
        return ThirdPartyBinding(
            **owner, name=f"{provider} · {purpose}", provider=provider, account=new.user.email
        )

    def template(self, owner: dict, name: str) -> ApprovalTemplate:
        return ApprovalTemplate(**owner, name=name, in_use=self.rng.random() < 0.85)

    def calendar(self, owner: dict, name: str) -> SharedCalendar:
        return SharedCalendar(**owner, name=name, subscriber_count=self.rng.randint(5, 80))
