"""Demo work records (C-1) for `manage.py seed_demo --records N`.

`seed_records(enterprise, *, per_member, rng)` gives every member of the enterprise who has no
records yet `per_member` of them: chat lines, files (some 劳动合同 and 工资条, typed as labour
contracts and wage records), approval records, attendance punches and expenses, in believable
Chinese. Ages spread over about three years — half within the last six months, some older than
six months, some older than two years — so the retention floors have something to keep and
something to let go. Each record is in its member's data region.

Set-based: two reads, then bulk inserts of BATCH_SIZE rows; the rows are made as they are
inserted, so memory stays flat however many there are. Every random choice comes from `rng`:
the same call on the same database builds the same records.
"""

import random
import sys
from datetime import datetime, time, timedelta
from itertools import islice

from django.db.models import Exists, OuterRef
from django.utils import timezone
from tqdm import tqdm

from directory import table_stats
from directory.models import Member

from .choices import DocumentType, RecordCategory
from .models import WorkRecord

BATCH_SIZE = 5000

# How often each category comes up (out of 100).
CATEGORY_WEIGHTS = {
    RecordCategory.CHAT: 45,
    RecordCategory.FILE: 12,
    RecordCategory.APPROVAL: 10,
    RecordCategory.ATTENDANCE: 23,
    RecordCategory.EXPENSE: 10,
}
# Ages in days: (share out of 100, youngest, oldest).
AGE_BANDS = ((50, 0, 180), (30, 181, 730), (20, 731, 1095))

CHAT_LINES = (
    "明天上午十点的周会改到3号会议室，大家留意一下。",
    "客户那边刚回复了，报价单需要再改一版，今天下班前能发吗？",
    "收到，我这边下午把测试环境部署好。",
    "上次说的合同模板已经发到群里了，麻烦法务帮忙看一下。",
    "@{colleague} 这个需求的排期能提前到下周三吗？",
    "发票已经寄出，快递单号稍后发你。",
    "今天的站会我请假，进度同步在文档里了。",
    "版本 {version} 已上线，线上监控暂时一切正常。",
    "辛苦 {colleague} 帮忙确认一下库存数据，谢谢！",
    "季度复盘的材料我整理好了，放在共享盘的项目文件夹里。",
    "这个客户比较着急，我们优先处理一下。",
    "好的，我和{colleague}对一下再回复你。",
    "周五团建的地点定在西湖边，记得报名。",
    "服务器告警已处理，原因是磁盘空间不足。",
    "新同事下周一入职，麻烦 IT 提前准备电脑和账号。",
    "会议纪要：1. 预算审批下周完成；2. 招聘计划按季度推进。",
)
FILE_NAMES = (
    "{year}年第{quarter}季度销售报表.xlsx",
    "{project}项目需求说明书_v{minor}.docx",
    "{project}项目周报_{year}{month:02d}{day:02d}.pptx",
    "客户拜访记录_{year}年{month}月.docx",
    "采购合同_{company}.pdf",
    "产品发布会方案_{year}.pptx",
    "部门预算_{year}.xlsx",
    "培训签到表_{year}{month:02d}.xlsx",
)
APPROVALS = (
    "请假申请：年假 {days} 天（{date}），审批人：{colleague}，已通过",
    "请假申请：病假 1 天（{date}），审批人：{colleague}，已通过",
    "加班申请：{date} 加班 {hours} 小时，审批人：{colleague}，已通过",
    "出差申请：{city}，{days} 天，审批人：{colleague}，已通过",
    "用章申请：{company}合同盖章，审批人：{colleague}，已通过",
    "采购申请：笔记本电脑 1 台，审批人：{colleague}，已驳回（预算不足）",
    "外出申请：拜访客户{company}，审批人：{colleague}，已通过",
)
PLACES = ("总部大楼", "总部大楼", "总部大楼", "分公司", "外勤：客户现场")
EXPENSES = (
    "差旅报销：{city}高铁往返 {amount} 元",
    "差旅报销：{city}酒店住宿 {amount} 元",
    "业务招待：客户午餐 {amount} 元",
    "交通费：打车 {amount} 元",
    "办公用品：打印纸与文具 {amount} 元",
    "通讯补贴：{year}年{month}月话费 {amount} 元",
)
CITIES = ("北京", "上海", "广州", "深圳", "杭州", "成都", "南京", "武汉", "西安", "苏州")
PROJECTS = ("星辰", "天枢", "凌云", "磐石", "青鸟", "远航", "灯塔", "极光")
COMPANIES = ("华辰科技", "远景贸易", "中盛物流", "恒通电子", "新宇传媒", "博雅教育")


def seed_records(enterprise, *, per_member: int, rng: random.Random, progress=True) -> int:
    """Give each member of `enterprise` without records `per_member` work records. Returns how
    many were created. `progress`: True draws a progress bar on stderr (on a terminal), a file
    draws it there, False none."""
    if per_member < 1:
        return 0
    without_records = (
        Member.objects.filter(enterprise=enterprise)
        .exclude(Exists(WorkRecord.objects.filter(owner_id=OuterRef("pk"))))
        .order_by("pk")
    )
    members = list(without_records.values_list("pk", "data_region"))
    if not members:
        return 0
    colleagues = list(
        Member.objects.filter(enterprise=enterprise)
        .order_by("pk")
        .values_list("name", flat=True)[:500]
    ) or ["同事"]
    maker = _RecordMaker(enterprise, rng, colleagues)
    total = len(members) * per_member
    rows = (
        maker.record(member_id, region) for member_id, region in members for _ in range(per_member)
    )
    file = sys.stderr if progress is True else progress or None
    created = 0
    with tqdm(
        total=total,
        desc="work records",
        unit=" rows",
        file=file,
        disable=True if not progress else None,
    ) as bar:
        while batch := list(islice(rows, BATCH_SIZE)):
            WorkRecord.objects.bulk_create(batch)
            created += len(batch)
            bar.update(len(batch))
    # For the planner, once committed: the retention run and the lists read them at once.
    table_stats.analyze(WorkRecord)
    return created


class _RecordMaker:
    """Makes one believable record at a time (unsaved), from `rng`."""

    def __init__(self, enterprise, rng: random.Random, colleagues: list[str]):
        self.enterprise_id = enterprise.pk
        self.zone = enterprise.time_zone
        self.rng = rng
        self.colleagues = colleagues
        self.now = timezone.now()
        self.today = timezone.localtime(self.now, self.zone).date()
        self.categories = list(CATEGORY_WEIGHTS)
        self.category_weights = list(CATEGORY_WEIGHTS.values())

    def record(self, member_id: int, region: str) -> WorkRecord:
        rng = self.rng
        category = rng.choices(self.categories, self.category_weights)[0]
        day = self.today - timedelta(days=self.age_in_days())
        document_type = ""
        if category == RecordCategory.CHAT:
            at = self.at(day, 9, 21)
            content = rng.choice(CHAT_LINES).format(
                colleague=rng.choice(self.colleagues),
                version=f"{rng.randint(1, 5)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
            )
        elif category == RecordCategory.FILE:
            at = self.at(day, 9, 19)
            content, document_type = self.file(day)
        elif category == RecordCategory.APPROVAL:
            at = self.at(day, 9, 19)
            content = rng.choice(APPROVALS).format(
                days=rng.randint(1, 5),
                hours=rng.randint(2, 4),
                date=day.isoformat(),
                city=rng.choice(CITIES),
                company=rng.choice(COMPANIES),
                colleague=rng.choice(self.colleagues),
            )
        elif category == RecordCategory.ATTENDANCE:
            while day.weekday() >= 5:  # punches on workdays: a weekend's move to its Friday
                day -= timedelta(days=1)
            clock_in = rng.random() < 0.5
            at = self.at(day, 8, 9) if clock_in else self.at(day, 18, 20)
            local = timezone.localtime(at, self.zone)
            what = "上班打卡" if clock_in else "下班打卡"
            content = f"{what} {local:%H:%M} · {rng.choice(PLACES)}"
        else:
            at = self.at(day, 9, 21)
            content = rng.choice(EXPENSES).format(
                city=rng.choice(CITIES),
                amount=f"{rng.randint(20, 3000)}.{rng.randint(0, 99):02d}",
                year=day.year,
                month=day.month,
            )
        return WorkRecord(
            enterprise_id=self.enterprise_id,
            owner_id=member_id,
            category=category,
            document_type=document_type,
            created_at=at,
            data_region=region,
            content=content,
        )

    def age_in_days(self) -> int:
        bands = [band[1:] for band in AGE_BANDS]
        youngest, oldest = self.rng.choices(bands, [band[0] for band in AGE_BANDS])[0]
        return self.rng.randint(youngest, oldest)

    def at(self, day, from_hour: int, to_hour: int) -> datetime:
        """A moment of `day` between the hours, in the enterprise's time zone; never later than
        now."""
        seconds = self.rng.randint(from_hour * 3600, to_hour * 3600 - 1)
        moment = datetime.combine(day, time(), tzinfo=self.zone) + timedelta(seconds=seconds)
        if moment > self.now:
            moment = self.now - timedelta(minutes=self.rng.randint(1, 120))
        return moment

    def file(self, day) -> tuple[str, str]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.08:
            return f"劳动合同_{day.year}-{day.year + 3}.pdf", DocumentType.LABOUR_CONTRACT
        if roll < 0.30:
            return f"工资条_{day.year}年{day.month}月.pdf", DocumentType.WAGE_RECORD
        name = rng.choice(FILE_NAMES).format(
            year=day.year,
            quarter=(day.month - 1) // 3 + 1,
            month=day.month,
            day=day.day,
            minor=rng.randint(1, 9),
            project=rng.choice(PROJECTS),
            company=rng.choice(COMPANIES),
        )
        return name, ""


def seed_ended_hold(enterprise) -> list[str]:
    """For `seed_demo --demo-logins`: a legal hold on the member in handover (offboarding/demo.py)
    that ended yesterday and that nobody released — what waits for `compliance`. Once: an
    enterprise with any hold gets none."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model

    from offboarding.choices import ExitState
    from offboarding.models import Exit

    from .holds import local_today, place_hold
    from .models import LegalHold

    compliance = get_user_model().objects.filter(username="compliance").first()
    exit_case = (
        Exit.objects.filter(enterprise=enterprise, state=ExitState.HANDOVER)
        .select_related("member")
        .order_by("pk")
        .first()
    )
    if compliance is None or exit_case is None:
        return []
    if LegalHold.objects.filter(enterprise=enterprise).exists():
        return []
    today = local_today(enterprise)
    place_hold(
        enterprise,
        member=exit_case.member,
        reason="劳动仲裁证据保全（已结案）",
        starts_on=today - timedelta(days=60),
        ends_on=today - timedelta(days=1),
        actor=compliance,
    )
    return [f"a legal hold on {exit_case.member.name} ended yesterday (compliance)"]
