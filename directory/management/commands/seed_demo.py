"""`manage.py seed_demo --members N`: a believable Chinese enterprise for demos and benchmarks.

What it builds (all of it reproducible: every random choice comes from a seeded random.Random):

- an enterprise (default 示例科技有限公司, data region CN, Asia/Shanghai);
- a department tree 公司 → 中心 → 部门 → 小组, about one department per ten members, each with a
  head;
- members with Chinese names, employee numbers E000001…, job titles, direct managers (a member
  reports to their department's head, a head to the head of the department above), exactly one
  active super admin, one backup admin (AB角) and a few admins;
- the resources members own (D-4): external contacts and customer groups (mostly sales), app
  authorizations (R&D, IT), third-party bindings (CRM, finance and HR systems), approval templates
  (HR, finance, 行政), shared calendars (department heads) — and the spec's case: the 销售总监 who
  owns exactly 5 customer groups and a few hundred external contacts.

Running it again with the same enterprise tops it up to N members and never duplicates anything:
the department plan grows by appending (the first k planned departments of a bigger enterprise are
the k departments of a smaller one), employee numbers continue, and what belongs to a particular
member (the sales director's groups, say) is created only with that member.

Speed: everything is written with bulk_create in batches, members are inserted heads first, level
by level, so every manager already has a primary key and no member row needs a second UPDATE.
Each created department, member and resource gets its "+" history row (history_user None, reason
"seed_demo") holding its final seeded state, copied by the database (write_created_history).
Passwords of seeded users are unusable (make_password(None)): hashing 20,000 real passwords would
take longer than everything else. `-v 2` prints the time of each phase. All of it runs in one
transaction.

--demo-logins also ensures the logins admin, hr, manager and employee (see ensure_demo_logins)
and prints them with their passwords and where to log in.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import itertools
import random
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.text import slugify
from tqdm import tqdm

from directory.choices import DataRegion, DepartmentStatus, MemberRole, MemberStatus, StaffRole
from directory.models import (
    OWNED_RESOURCE_MODELS,
    AppAuthorization,
    ApprovalTemplate,
    CustomerGroup,
    Department,
    Enterprise,
    ExternalContact,
    Member,
    SharedCalendar,
    ThirdPartyBinding,
)
from directory.permissions import grant_access

DEFAULT_ENTERPRISE = "示例科技有限公司"
CHANGE_REASON = "seed_demo"
BATCH_SIZE = 2000
MAX_MEMBERS = 1_000_000
MEMBERS_PER_DEPARTMENT = 10

# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------

# The most common surnames, most frequent first; weights fall off with rank like the real ones.
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
    "龚邵万钱严覃武戴莫孔向汤"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "慕容")
_SURNAME_CHOICES = [*SURNAMES, *COMPOUND_SURNAMES]
# Cumulative weights: random.choices would otherwise re-add the weights on every call.
_SURNAME_CUM_WEIGHTS = list(
    itertools.accumulate(
        [1 / (rank + 4) for rank in range(len(SURNAMES))] + [0.004] * len(COMPOUND_SURNAMES)
    )
)

# Characters common in given names; a given name is one or two of them (张伟, 李思源).
GIVEN_NAME_CHARACTERS = "".join(
    dict.fromkeys(  # dedupe, keeping the order
        "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英霞平刚桂兰华建国文红玉玲燕萍慧婷雪琳晨浩宇轩博"
        "思源子涵梓欣怡佳琪嘉悦诗雨可馨一鸣俊志远天翔晓东海峰春梅秋月鹏飞宏亮振德胜立新凯瑞"
        "然若曦雅婧晴雯豪皓梦瑶"
    )
)

CITIES = (
    "上海", "北京", "深圳", "广州", "杭州", "南京", "苏州", "成都", "武汉", "西安", "重庆", "天津",
    "长沙", "郑州", "青岛", "宁波", "厦门", "合肥", "济南", "东莞", "佛山", "无锡", "福州", "昆明",
)
COMPANY_WORDS = (
    "恒信", "华泰", "瑞丰", "中联", "鼎盛", "宏达", "新元", "博远", "嘉禾", "天诚", "金桥", "明德",
    "远航", "同创", "汇通", "启明", "长青", "正源", "聚能", "云帆", "润和", "星辰", "永安", "高科",
)
INDUSTRIES = (
    "科技", "贸易", "智能制造", "物流", "医疗器械", "电子", "实业", "信息技术", "供应链", "建材",
    "食品", "新能源", "生物科技", "文化传媒", "教育科技", "汽车零部件",
)

# ---------------------------------------------------------------------------------------------
# The department plan
# ---------------------------------------------------------------------------------------------

# Department name → (parent name, kind). Parent None is the company itself (the root department,
# named after the enterprise, as in WeCom). The kind decides job titles and owned resources.
DEPARTMENTS = {
    "销售中心": (None, "sales"),
    "综合管理中心": (None, "management"),
    "研发中心": (None, "rd"),
    "产品中心": (None, "product"),
    "市场中心": (None, "marketing"),
    "客户成功中心": (None, "cs"),
    "运营中心": (None, "ops"),
    "华东销售部": ("销售中心", "sales"),
    "华北销售部": ("销售中心", "sales"),
    "华南销售部": ("销售中心", "sales"),
    "西南销售部": ("销售中心", "sales"),
    "华中销售部": ("销售中心", "sales"),
    "西北销售部": ("销售中心", "sales"),
    "东北销售部": ("销售中心", "sales"),
    "大客户部": ("销售中心", "sales"),
    "渠道销售部": ("销售中心", "sales"),
    "海外销售部": ("销售中心", "sales"),
    "销售运营部": ("销售中心", "sales"),
    "人力资源部": ("综合管理中心", "hr"),
    "财务部": ("综合管理中心", "finance"),
    "行政部": ("综合管理中心", "admin"),
    "信息技术部": ("综合管理中心", "it"),
    "法务部": ("综合管理中心", "legal"),
    "采购部": ("综合管理中心", "purchase"),
    "平台研发部": ("研发中心", "rd"),
    "移动研发部": ("研发中心", "rd"),
    "数据研发部": ("研发中心", "rd"),
    "基础架构部": ("研发中心", "rd"),
    "测试部": ("研发中心", "rd"),
    "运维部": ("研发中心", "rd"),
    "信息安全部": ("研发中心", "rd"),
    "算法研究部": ("研发中心", "rd"),
    "产品规划部": ("产品中心", "product"),
    "用户体验设计部": ("产品中心", "product"),
    "项目管理部": ("产品中心", "product"),
    "品牌部": ("市场中心", "marketing"),
    "市场活动部": ("市场中心", "marketing"),
    "公关部": ("市场中心", "marketing"),
    "增长营销部": ("市场中心", "marketing"),
    "客户服务部": ("客户成功中心", "cs"),
    "实施交付部": ("客户成功中心", "cs"),
    "技术支持部": ("客户成功中心", "cs"),
    "培训部": ("客户成功中心", "cs"),
    "业务运营部": ("运营中心", "ops"),
    "内容运营部": ("运营中心", "ops"),
    "数据分析部": ("运营中心", "ops"),
}


@dataclass(frozen=True)
class Team:
    """A slot in the growth order: the next 小组 of `parent`."""

    parent: str


# The order in which departments appear as the enterprise grows (after the root, which is always
# first). Parents come before their children, so the first k slots always form a tree; a top-up
# to more members only appends slots, it never renames or moves what an earlier run created.
GROWTH_ORDER = (
    "销售中心", "综合管理中心", "研发中心", "华东销售部", "人力资源部", "平台研发部",
    Team("华东销售部"), "财务部", Team("平台研发部"), "华北销售部", "产品中心", "行政部",
    Team("华北销售部"), "华南销售部", "移动研发部", Team("华东销售部"), "市场中心",
    "客户成功中心", "信息技术部", "产品规划部", Team("华南销售部"), "测试部", "大客户部",
    "品牌部", "客户服务部", Team("平台研发部"), "西南销售部", "华中销售部", "数据研发部",
    "用户体验设计部", "法务部", "实施交付部", "渠道销售部", "基础架构部", "市场活动部",
    "运营中心", "业务运营部", "海外销售部", "运维部", "技术支持部", "项目管理部", "采购部",
    "信息安全部", "公关部", "西北销售部", "东北销售部", "算法研究部", "数据分析部",
    "增长营销部", "培训部", "销售运营部", "内容运营部",
)  # fmt: skip

# After GROWTH_ORDER, new departments are 小组 of these departments, round-robin by weight: a
# growing company adds sales and engineering teams much faster than legal or purchasing teams.
TEAM_WEIGHTS = {
    "华东销售部": 8, "华北销售部": 8, "华南销售部": 8, "西南销售部": 6, "华中销售部": 6,
    "西北销售部": 4, "东北销售部": 4, "大客户部": 6, "渠道销售部": 4, "海外销售部": 4,
    "销售运营部": 2, "平台研发部": 8, "移动研发部": 6, "数据研发部": 6, "基础架构部": 4,
    "测试部": 4, "运维部": 3, "信息安全部": 2, "算法研究部": 4, "产品规划部": 4,
    "用户体验设计部": 2, "项目管理部": 2, "品牌部": 1, "市场活动部": 2, "公关部": 1,
    "增长营销部": 2, "客户服务部": 6, "实施交付部": 4, "技术支持部": 4, "培训部": 1,
    "业务运营部": 2, "内容运营部": 2, "数据分析部": 2, "人力资源部": 2, "财务部": 2,
    "行政部": 2, "信息技术部": 2, "法务部": 1, "采购部": 1,
}  # fmt: skip

# A team is named "<base><numeral>组": 上海一组, 杭州一组, …, 上海二组.
TEAM_BASES = {
    "华东销售部": ("上海", "杭州", "南京", "苏州", "合肥", "宁波"),
    "华北销售部": ("北京", "天津", "济南", "青岛", "石家庄", "太原"),
    "华南销售部": ("广州", "深圳", "厦门", "福州", "东莞", "南宁"),
    "西南销售部": ("成都", "重庆", "昆明", "贵阳"),
    "华中销售部": ("武汉", "长沙", "郑州", "南昌"),
    "西北销售部": ("西安", "兰州", "银川", "乌鲁木齐"),
    "东北销售部": ("沈阳", "大连", "长春", "哈尔滨"),
    "大客户部": ("金融行业", "政企", "制造业", "零售行业", "医疗行业", "教育行业"),
    "渠道销售部": ("渠道拓展", "渠道运营"),
    "海外销售部": ("新加坡", "香港", "日本", "北美", "欧洲"),
    "销售运营部": ("销售支持", "商务"),
    "平台研发部": ("后端", "前端", "中台", "开放平台"),
    "移动研发部": ("iOS", "Android", "小程序", "跨端"),
    "数据研发部": ("数据平台", "数据仓库", "数据治理"),
    "基础架构部": ("存储", "中间件", "云原生"),
    "测试部": ("功能测试", "自动化测试", "性能测试"),
    "运维部": ("系统运维", "SRE"),
    "信息安全部": ("安全运营", "安全开发"),
    "算法研究部": ("推荐算法", "自然语言处理", "计算机视觉"),
    "产品规划部": ("产品", "商业化产品"),
    "用户体验设计部": ("交互设计", "视觉设计", "用户研究"),
    "项目管理部": ("项目管理",),
    "品牌部": ("品牌",),
    "市场活动部": ("活动策划", "会展"),
    "公关部": ("媒体关系",),
    "增长营销部": ("投放", "新媒体"),
    "客户服务部": ("热线", "在线客服", "VIP服务"),
    "实施交付部": ("华东交付", "华北交付", "华南交付"),
    "技术支持部": ("一线支持", "二线支持"),
    "培训部": ("客户培训",),
    "业务运营部": ("业务运营",),
    "内容运营部": ("内容",),
    "数据分析部": ("经营分析", "用户分析"),
    "人力资源部": ("招聘", "薪酬福利", "培训发展", "员工关系"),
    "财务部": ("会计核算", "资金管理", "税务"),
    "行政部": ("行政事务", "后勤保障"),
    "信息技术部": ("IT支持", "企业应用"),
    "法务部": ("合同", "合规"),
    "采购部": ("采购",),
}

# Overseas sales teams work from abroad: their members' data stays in that region (D-3).
TEAM_REGIONS = {
    "新加坡": DataRegion.SG,
    "香港": DataRegion.HK,
    "日本": DataRegion.JP,
    "北美": DataRegion.US,
    "欧洲": DataRegion.EU,
}

# ---------------------------------------------------------------------------------------------
# Titles and roles
# ---------------------------------------------------------------------------------------------

ROOT_HEAD_TITLE = "总经理"
SALES_DIRECTOR_TITLE = "销售总监"
CENTER_HEAD_TITLES = {
    "销售中心": SALES_DIRECTOR_TITLE,
    "综合管理中心": "行政总监",
    "研发中心": "技术总监",
    "产品中心": "产品总监",
    "市场中心": "市场总监",
    "客户成功中心": "客户成功总监",
    "运营中心": "运营总监",
}
TEAM_HEAD_TITLES = {"sales": "销售主管", "rd": "技术组长", "product": "产品组长", "cs": "服务主管"}

# Job titles of the people who are not heads, by department kind: (title, weight).
STAFF_TITLES = {
    "root": (("总经理助理", 2), ("董事长秘书", 1), ("战略分析师", 1)),
    "management": (("行政助理", 1), ("综合管理专员", 1)),
    "sales": (
        ("销售代表", 5), ("高级销售代表", 3), ("客户经理", 3), ("大客户经理", 1), ("销售助理", 1),
    ),
    "rd": (
        ("软件工程师", 4), ("高级软件工程师", 4), ("资深软件工程师", 2), ("测试工程师", 2),
        ("运维工程师", 1), ("架构师", 1),
    ),
    "product": (
        ("产品经理", 3), ("高级产品经理", 1), ("产品助理", 1), ("交互设计师", 1),
        ("视觉设计师", 1), ("项目经理", 1),
    ),
    "marketing": (("市场专员", 3), ("品牌经理", 1), ("活动策划", 1), ("新媒体运营", 2)),
    "cs": (("客服专员", 3), ("实施顾问", 2), ("技术支持工程师", 2), ("客户成功经理", 2)),
    "ops": (("运营专员", 3), ("数据分析师", 2), ("内容运营", 2)),
    "hr": (("招聘专员", 2), ("HRBP", 2), ("薪酬福利专员", 1), ("培训专员", 1)),
    "finance": (("会计", 3), ("出纳", 1), ("财务分析师", 1), ("税务专员", 1)),
    "admin": (("行政专员", 3), ("前台", 1), ("行政助理", 1)),
    "it": (("IT工程师", 3), ("系统管理员", 1), ("网络工程师", 1)),
    "legal": (("法务专员", 2), ("律师", 1)),
    "purchase": (("采购专员", 2), ("采购经理", 1)),
}  # fmt: skip

# Heads of these departments get a role beyond member. The head of the root becomes the super
# admin and the head of 综合管理中心 the backup admin — each only if the enterprise has none yet, so
# the invariants (exactly one active super admin, one backup admin) hold after any top-up.
ADMIN_DEPARTMENTS = ("综合管理中心", "人力资源部", "信息技术部", "行政部")
BACKUP_ADMIN_DEPARTMENT = "综合管理中心"

# How many members a department holds relative to others, so members spread believably: leaves
# (teams, or departments without teams yet) hold most people; a 中心 holds its head and a few.
KIND_WEIGHTS = {"sales": 1.3, "rd": 1.3, "hr": 0.6, "finance": 0.6, "admin": 0.6, "it": 0.6,
                "legal": 0.4, "purchase": 0.4, "management": 0.6}  # fmt: skip

# ---------------------------------------------------------------------------------------------
# Owned resources
# ---------------------------------------------------------------------------------------------

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

# ---------------------------------------------------------------------------------------------
# Demo logins
# ---------------------------------------------------------------------------------------------

ADMIN_URL = "http://127.0.0.1:8000/admin/"
SITE_URL = "http://127.0.0.1:8000/"
DEMO_PASSWORDS = {
    "admin": "exitdesk-admin",
    "hr": "exitdesk-hr",
    "manager": "exitdesk-manager",
    "employee": "exitdesk-employee",
}


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def chinese_numeral(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 35 → 三十五 (team numbers stay well below 100)."""
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")
    return str(n)


def batches(items, size=BATCH_SIZE):
    for start in range(0, len(items), size):
        yield items[start : start + size]


@functools.cache
def username_prefix(enterprise_name: str) -> str:
    """A stable ASCII prefix for an enterprise's seeded usernames (users are global).

    The hash keeps two enterprises apart even when their names slugify alike (Chinese names
    slugify to nothing at all).
    """
    digest = hashlib.sha1(enterprise_name.encode()).hexdigest()[:6]
    return f"{slugify(enterprise_name)[:40].strip('-') or 'ent'}-{digest}"


def seeded_username(enterprise_name: str, employee_number: str) -> str:
    return f"{username_prefix(enterprise_name)}-{employee_number}".lower()


def employee_number(seq: int) -> str:
    return f"E{seq:06d}"


def parse_employee_number(value: str) -> int | None:
    if value[:1] == "E" and value[1:].isdigit():
        return int(value[1:])
    return None


def create_with_history(model, rows: list) -> None:
    """bulk_create `rows` (one batch) and write their "+" history rows."""
    model.objects.bulk_create(rows)
    write_created_history(model, rows)


_HISTORY_FIELDS = ("history_date", "history_change_reason", "history_type", "history_user")


def write_created_history(model, rows: list) -> None:
    """The "+" history rows of just-created `rows`: history_user None, reason "seed_demo".

    The same rows simple_history's bulk_history_create writes, but copied by the database from
    the rows just inserted (INSERT … SELECT … WHERE id IN …): no historical model instance per
    row, no per-value conversion in Python. That was the larger half of a 20,000-member run.
    Should a historical model ever get fields this does not know (a custom history field, say),
    simple_history writes the rows instead.
    """
    history = model.history.model
    tracked = list(history.tracked_fields)
    expected = {field.name for field in tracked} | {"history_id", *_HISTORY_FIELDS}
    if {field.name for field in history._meta.concrete_fields} != expected:
        model.history.bulk_history_create(
            rows, batch_size=BATCH_SIZE, default_change_reason=CHANGE_REASON
        )
        return
    quote = connection.ops.quote_name
    targets = [history._meta.get_field(f.name).column for f in tracked]
    targets += [history._meta.get_field(name).column for name in _HISTORY_FIELDS]
    sources = [quote(field.column) for field in tracked] + ["%s", "%s", "%s", "NULL"]
    pk = quote(model._meta.pk.column)
    now = history._meta.get_field("history_date").get_db_prep_save(timezone.now(), connection)
    # Ids per statement: as many as the database takes parameters (SQLite: 999).
    per_statement = min(BATCH_SIZE, (connection.features.max_query_params or BATCH_SIZE) - 3)
    with connection.cursor() as cursor:
        for ids in batches([row.pk for row in rows], per_statement):
            cursor.execute(
                f"INSERT INTO {quote(history._meta.db_table)} ({', '.join(map(quote, targets))}) "
                f"SELECT {', '.join(sources)} FROM {quote(model._meta.db_table)} "
                f"WHERE {pk} IN ({', '.join(['%s'] * len(ids))}) ORDER BY {pk}",
                [now, CHANGE_REASON, "+", *ids],
            )


@dataclass(eq=False)  # compared by identity
class PlannedDepartment:
    """One department of the plan; `department` is its row once found or created."""

    index: int  # position in the growth order (0 = the root)
    key: tuple[str, ...]  # names from below the root down to it; () is the root
    name: str
    kind: str
    region: str = DataRegion.CN
    has_children: bool = False
    department: Department | None = None
    is_new: bool = False

    @property
    def depth(self) -> int:
        return len(self.key)

    @property
    def parent_key(self) -> tuple[str, ...] | None:
        return self.key[:-1] if self.key else None

    def capacity(self) -> float:
        if not self.has_children:
            base = MEMBERS_PER_DEPARTMENT
        else:
            base = (0.5, 1, 3)[min(self.depth, 2)]
        return base * KIND_WEIGHTS.get(self.kind, 1.0)

    def head_title(self) -> str:
        if self.depth == 0:
            return ROOT_HEAD_TITLE
        if self.depth == 1:
            return CENTER_HEAD_TITLES[self.name]
        if self.depth == 2:
            return f"{self.name}经理"
        return TEAM_HEAD_TITLES.get(self.kind, "主管")


def department_count(members: int) -> int:
    """About one department per ten members; at least a small tree as soon as there are people."""
    return max(min(members, 3), round(members / MEMBERS_PER_DEPARTMENT))


def plan_departments(enterprise_name: str, count: int) -> list[PlannedDepartment]:
    """The first `count` departments of the growth order, parents before children."""
    root = PlannedDepartment(index=0, key=(), name=enterprise_name, kind="root")
    plan = [root]
    by_name = {}  # named departments only (team names repeat across parents)
    team_counters: Counter[str] = Counter()
    weighted_cycle = [
        name
        for round_ in range(max(TEAM_WEIGHTS.values()))
        for name, weight in TEAM_WEIGHTS.items()
        if weight > round_
    ]
    slots = itertools.chain(GROWTH_ORDER, (Team(name) for name in itertools.cycle(weighted_cycle)))
    for slot in slots:
        if len(plan) >= count:
            break
        if isinstance(slot, Team):
            parent = by_name[slot.parent]
            bases = TEAM_BASES[slot.parent]
            number = team_counters[slot.parent]
            team_counters[slot.parent] += 1
            base = bases[number % len(bases)]
            name = f"{base}{chinese_numeral(number // len(bases) + 1)}组"
            planned = PlannedDepartment(
                index=len(plan),
                key=(*parent.key, name),
                name=name,
                kind=parent.kind,
                region=TEAM_REGIONS.get(base, DataRegion.CN),
            )
        else:
            parent_name, kind = DEPARTMENTS[slot]
            parent = by_name[parent_name] if parent_name else root
            planned = PlannedDepartment(
                index=len(plan), key=(*parent.key, slot), name=slot, kind=kind
            )
            by_name[slot] = planned
        parent.has_children = True
        plan.append(planned)
    return plan


@dataclass(eq=False)
class NewMember:
    """A member to create; `member` is its row once inserted."""

    seq: int
    surname: str
    given_name: str
    home: PlannedDepartment  # primary department
    title: str
    heads: PlannedDepartment | None = None
    role: str = MemberRole.MEMBER
    is_backup_admin: bool = False
    user: object | None = None
    member: Member | None = None

    @property
    def name(self) -> str:
        return self.surname + self.given_name

    @property
    def employee_number(self) -> str:
        return employee_number(self.seq)


# ---------------------------------------------------------------------------------------------
# The seeding itself
# ---------------------------------------------------------------------------------------------


class Seeder:
    """Tops `enterprise` up to `target` members. One instance per run; call run() once."""

    def __init__(self, enterprise: Enterprise, target: int, progress_file):
        self.enterprise = enterprise
        self.target = target
        self.progress_file = progress_file
        self.timings: dict[str, float] = {}  # seconds per phase
        self.existing_members = Member.objects.filter(enterprise=enterprise).count()
        self.missing = target - self.existing_members
        # Same command, same database state → same names, titles and resources.
        self.rng = random.Random(f"{CHANGE_REASON}|{enterprise.name}|{self.existing_members}")
        self.created: Counter[str] = Counter()
        self.employee_numbers: tuple[str, str] | None = None  # first and last one added

    def run(self) -> None:
        self.plan = plan_departments(self.enterprise.name, department_count(self.target))
        self.by_key = {planned.key: planned for planned in self.plan}
        self.match_existing_departments()
        self.create_departments()
        self.load_existing_heads()
        new_members = self.plan_members()
        self.create_users(new_members)
        self.create_members(new_members)
        self.set_department_heads()
        self.create_resources(new_members)

    @contextmanager
    def phase(self, description: str, total: int):
        """A progress bar for one phase (on a terminal; silent in a pipe, a log or a test)."""
        started = time.monotonic()
        with tqdm(
            total=total, desc=description, unit=" rows", file=self.progress_file, disable=None
        ) as bar:
            yield bar
        self.timings[description] = time.monotonic() - started

    # -- departments ------------------------------------------------------------------------

    def match_existing_departments(self) -> None:
        """Find the planned departments an earlier run (or HR) already created, by name path."""
        rows = Department.objects.filter(enterprise=self.enterprise).only(
            "id", "parent_id", "name", "head_id", "status"
        )
        by_id = {row.pk: row for row in rows}
        keys: dict[int, tuple[str, ...] | None] = {}

        def key_of(row):
            if row.pk not in keys:
                keys[row.pk] = None  # guards against a (corrupt) cycle
                if row.parent_id is None:
                    key = () if row.name == self.enterprise.name else None
                else:
                    parent = by_id.get(row.parent_id)
                    parent_key = key_of(parent) if parent else None
                    key = None if parent_key is None else (*parent_key, row.name)
                keys[row.pk] = key
            return keys[row.pk]

        for row in by_id.values():
            planned = self.by_key.get(key_of(row))
            if planned is not None and planned.department is None:
                planned.department = row

    def create_departments(self) -> None:
        """Create the missing planned departments, level by level so every parent has its id.

        A department needs a head, and heads come from the new members, so never plan more new
        departments than there are new members (only matters for an enterprise HR filled by hand).
        """
        missing = [planned for planned in self.plan if planned.department is None]
        missing = missing[: self.missing]
        chosen = set(map(id, missing))
        self.plan = [p for p in self.plan if p.department is not None or id(p) in chosen]
        self.by_key = {planned.key: planned for planned in self.plan}
        with self.phase("departments", len(missing)) as bar:
            for depth in sorted({planned.depth for planned in missing}):
                level = [planned for planned in missing if planned.depth == depth]
                rows = []
                for planned in level:
                    parent = self.by_key[planned.parent_key] if planned.key else None
                    rows.append(
                        Department(
                            enterprise=self.enterprise,
                            parent=parent.department if parent else None,
                            name=planned.name,
                        )
                    )
                for batch in batches(rows):
                    Department.objects.bulk_create(batch)
                    bar.update(len(batch))
                for planned, row in zip(level, rows, strict=True):
                    planned.department = row
                    planned.is_new = True
        self.created["departments"] = len(missing)

    def load_existing_heads(self) -> None:
        """Which existing departments have an active head: the managers of new members."""
        active = set(
            Department.objects.filter(
                enterprise=self.enterprise, head__status=MemberStatus.ACTIVE
            ).values_list("head_id", flat=True)
        )
        self.head_ids = {
            planned.key: planned.department.head_id
            for planned in self.plan
            if planned.department.head_id in active
        }

    def manager_id_for(self, planned: PlannedDepartment | None) -> int | None:
        """The nearest head at or above `planned` (a department may have lost its head)."""
        while planned is not None:
            head_id = self.head_ids.get(planned.key)
            if head_id is not None:
                return head_id
            planned = self.by_key.get(planned.parent_key) if planned.key else None
        return None

    # -- members ----------------------------------------------------------------------------

    def plan_members(self) -> list[NewMember]:
        """Decide who the new members are: first one head per new department, then the rest
        spread over the active planned departments, each filled in proportion to its capacity."""
        seq = self.next_employee_seq()
        has_super_admin = Member.objects.filter(enterprise=self.enterprise).super_admins().exists()
        has_backup_admin = Member.objects.filter(
            enterprise=self.enterprise, is_backup_admin=True, status=MemberStatus.ACTIVE
        ).exists()
        new_members = []
        for planned in self.plan:
            if not planned.is_new:
                continue
            member = self.new_member(seq, planned, title=planned.head_title())
            member.heads = planned
            if planned.depth == 0 and not has_super_admin:
                member.role = MemberRole.SUPER_ADMIN
                has_super_admin = True
            elif planned.name in ADMIN_DEPARTMENTS and planned.depth in (1, 2):
                member.role = MemberRole.ADMIN
            if planned.name == BACKUP_ADMIN_DEPARTMENT and not has_backup_admin:
                member.is_backup_admin = True
                has_backup_admin = True
            new_members.append(member)
            seq += 1

        counts = Counter(
            dict(
                Member.objects.filter(enterprise=self.enterprise)
                .order_by()
                .values_list("department_id")
                .annotate(n=Count("id"))
                .values_list("department_id", "n")
            )
        )
        heap = []
        for planned in self.plan:
            if planned.department.status != DepartmentStatus.ACTIVE:
                continue  # no one joins a department that is being dissolved
            count = counts[planned.department.pk] + (1 if planned.is_new else 0)
            heap.append((count / planned.capacity(), planned.index, count, planned))
        if not heap:
            raise CommandError(f"{self.enterprise} has no active department to put members in.")
        heapq.heapify(heap)
        for _ in range(self.missing - len(new_members)):
            _, index, count, planned = heapq.heappop(heap)
            new_members.append(self.new_member(seq, planned, title=self.staff_title(planned)))
            seq += 1
            count += 1
            heapq.heappush(heap, (count / planned.capacity(), index, count, planned))
        self.employee_numbers = (new_members[0].employee_number, new_members[-1].employee_number)
        return new_members

    def next_employee_seq(self) -> int:
        numbers = Member.objects.filter(enterprise=self.enterprise).values_list(
            "employee_number", flat=True
        )
        parsed = [n for n in map(parse_employee_number, numbers) if n is not None]
        return max(parsed, default=0) + 1

    def new_member(self, seq: int, planned: PlannedDepartment, title: str) -> NewMember:
        surname, given = self.person_name()
        return NewMember(seq=seq, surname=surname, given_name=given, home=planned, title=title)

    def person_name(self) -> tuple[str, str]:
        """(surname, given name): a common surname, a given name of one or two characters."""
        surname = self.rng.choices(_SURNAME_CHOICES, cum_weights=_SURNAME_CUM_WEIGHTS)[0]
        length = 1 if self.rng.random() < 0.3 else 2
        return surname, "".join(self.rng.choices(GIVEN_NAME_CHARACTERS, k=length))

    def staff_title(self, planned: PlannedDepartment) -> str:
        titles, weights = zip(*STAFF_TITLES[planned.kind], strict=True)
        return self.rng.choices(titles, weights)[0]

    def create_users(self, new_members: list[NewMember]) -> None:
        """One Django user per member, with an unusable password (demo logins get real ones)."""
        User = get_user_model()
        prefix = username_prefix(self.enterprise.name)
        usernames = [seeded_username(self.enterprise.name, m.employee_number) for m in new_members]
        taken = set(usernames) & set(
            User.objects.filter(username__startswith=f"{prefix}-").values_list(
                "username", flat=True
            )
        )
        if taken:
            raise CommandError(
                f"{len(taken)} usernames this run needs already exist (e.g. {min(taken)}), "
                "left over from deleted members? Rename or delete those users first."
            )
        users = [
            User(
                username=username,
                password=make_password(None),
                # Django joins first and last name Western-style ("翔建 姜"); a Chinese full name
                # is written surname first, so it is kept whole in first_name.
                first_name=m.surname + m.given_name,
                email=f"{username}@example.com",
            )
            for m, username in zip(new_members, usernames, strict=True)
        ]
        with self.phase("users", len(users)) as bar:
            for batch in batches(users):
                User.objects.bulk_create(batch)
                bar.update(len(batch))
        for new, user in zip(new_members, users, strict=True):
            new.user = user

    def create_members(self, new_members: list[NewMember]) -> None:
        """Insert heads level by level (root first), then everyone else.

        Each head's manager is the head above, already inserted; each member's manager is the
        head of their department. So every row is final when inserted and its "+" history row
        (written in the same call) holds the final state.
        """
        heads = [m for m in new_members if m.heads is not None]
        staff = [m for m in new_members if m.heads is None]
        with self.phase("members", len(new_members)) as bar:
            for depth in sorted({m.heads.depth for m in heads}):
                level = [m for m in heads if m.heads.depth == depth]
                self.insert_members(level, self.manager_id_of_head, bar)
                for m in level:
                    self.head_ids[m.heads.key] = m.member.pk
            self.insert_members(staff, lambda m: self.manager_id_for(m.home), bar)
        self.created["members"] = len(new_members)

    def manager_id_of_head(self, new: NewMember) -> int | None:
        parent = self.by_key.get(new.heads.parent_key)
        return self.manager_id_for(parent)

    def insert_members(self, new_members: list[NewMember], manager_id_of, bar) -> None:
        for batch in batches(new_members):
            rows = [
                Member(
                    enterprise=self.enterprise,
                    user=m.user,
                    name=m.name,
                    employee_number=m.employee_number,
                    title=m.title,
                    department=m.home.department,
                    manager_id=manager_id_of(m),
                    role=m.role,
                    is_backup_admin=m.is_backup_admin,
                    data_region=m.home.region,
                )
                for m in batch
            ]
            create_with_history(Member, rows)
            for m, row in zip(batch, rows, strict=True):
                m.member = row
            bar.update(len(batch))

    def set_department_heads(self) -> None:
        """Point each new department at its head, then write the departments' "+" history."""
        new_departments = []
        for planned in self.plan:
            if planned.is_new:
                planned.department.head_id = self.head_ids[planned.key]
                new_departments.append(planned.department)
        with self.phase("department heads", len(new_departments)) as bar:
            for batch in batches(new_departments, 500):
                Department.objects.bulk_update(batch, ["head"])
                bar.update(len(batch))
            write_created_history(Department, new_departments)

    # -- owned resources (D-4) --------------------------------------------------------------

    def create_resources(self, new_members: list[NewMember]) -> None:
        rows: dict[type, list] = {model: [] for model in OWNED_RESOURCE_MODELS}
        with self.phase("planning resources", len(new_members)) as bar:
            for new in new_members:
                for row in self.resources_of(new):
                    rows[type(row)].append(row)
                bar.update()
        total = sum(len(r) for r in rows.values())
        with self.phase("owned resources", total) as bar:
            for model, model_rows in rows.items():
                for batch in batches(model_rows):
                    create_with_history(model, batch)
                    bar.update(len(batch))
                self.created[model.__name__] = len(model_rows)

    def resources_of(self, new: NewMember):
        """What one new member owns, by the kind of their department and whether they lead it."""
        rng, kind, head = self.rng, new.home.kind, new.heads
        # Ids rather than instances: cheaper to set on 100,000 rows, and all bulk_create needs.
        owner = {"enterprise_id": self.enterprise.pk, "owner_id": new.member.pk}
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

    def sales_director_resources(self, new: NewMember, owner: dict):
        """The spec's case: exactly 5 customer groups and a few hundred customers (fewer in a
        tiny demo enterprise), a CRM bound to the director's account, a calendar, a template."""
        contacts = min(300, max(20, self.target // 3))
        yield from (self.external_contact(owner) for _ in range(contacts))
        yield from (self.customer_group(owner) for _ in range(5))
        yield self.binding(owner, new, "纷享销客 CRM", "客户数据同步")
        yield self.binding(owner, new, "Salesforce", "海外商机同步")
        yield self.template(owner, "销售合同审批")
        yield self.calendar(owner, "销售中心周会")

    def company(self) -> tuple[str, str]:
        """A customer company: (short name, full name)."""
        short = self.rng.choice(CITIES) + self.rng.choice(COMPANY_WORDS)
        return short, f"{short}{self.rng.choice(INDUSTRIES)}有限公司"

    def external_contact(self, owner: dict) -> ExternalContact:
        surname, given = self.person_name()
        phone = f"1{self.rng.choice('35789')}{self.rng.randrange(10**9):09d}"
        company = self.company()[1]
        return ExternalContact(**owner, name=surname + given, company=company, phone=phone)

    def customer_group(self, owner: dict) -> CustomerGroup:
        name = self.company()[0] + self.rng.choice(GROUP_SUFFIXES)
        return CustomerGroup(**owner, name=name, member_count=self.rng.randint(3, 180))

    def binding(self, owner: dict, new: NewMember, provider: str, purpose: str):
        return ThirdPartyBinding(
            **owner, name=f"{provider} · {purpose}", provider=provider, account=new.user.email
        )

    def template(self, owner: dict, name: str) -> ApprovalTemplate:
        return ApprovalTemplate(**owner, name=name, in_use=self.rng.random() < 0.85)

    def calendar(self, owner: dict, name: str) -> SharedCalendar:
        return SharedCalendar(**owner, name=name, subscriber_count=self.rng.randint(5, 80))


# ---------------------------------------------------------------------------------------------
# Demo logins
# ---------------------------------------------------------------------------------------------


@dataclass
class DemoLogin:
    username: str
    password: str
    who: str
    url: str


def ensure_demo_logins(enterprise: Enterprise) -> list[DemoLogin]:
    """The four people a demo needs, created or repaired; safe to run any number of times."""
    admin = ensure_login_user("admin", is_staff=True, is_superuser=True)
    hr = ensure_login_user("hr", is_staff=True, is_superuser=False)
    grant_access(user=hr, enterprise=enterprise, role=StaffRole.HR)
    manager, employee = pick_manager_and_employee(enterprise)
    claim_username(manager.user, "manager")
    claim_username(employee.user, "employee")
    reports = Member.objects.filter(manager=manager, status=MemberStatus.ACTIVE).count()
    return [
        DemoLogin(admin.username, DEMO_PASSWORDS["admin"], "Django superuser", ADMIN_URL),
        DemoLogin(hr.username, DEMO_PASSWORDS["hr"], f"HR staff of {enterprise}", ADMIN_URL),
        DemoLogin(
            "manager",
            DEMO_PASSWORDS["manager"],
            f"{manager} {manager.title}, manages {reports} active members",
            SITE_URL,
        ),
        DemoLogin(
            "employee",
            DEMO_PASSWORDS["employee"],
            f"{employee} {employee.title}, reports to {manager.name}",
            SITE_URL,
        ),
    ]


def ensure_login_user(username: str, *, is_staff: bool, is_superuser: bool):
    User = get_user_model()
    user = User.objects.filter(username=username).first() or User(username=username)
    changed = user.pk is None
    for attribute, value in (("is_staff", is_staff), ("is_superuser", is_superuser),
                             ("is_active", True)):  # fmt: skip
        if getattr(user, attribute) != value:
            setattr(user, attribute, value)
            changed = True
    # check_password first: re-hashing an unchanged password would rewrite the row every run.
    if not user.check_password(DEMO_PASSWORDS[username]):
        user.set_password(DEMO_PASSWORDS[username])
        changed = True
    if changed:
        user.save()
    return user


def pick_manager_and_employee(enterprise: Enterprise) -> tuple[Member, Member]:
    """A department head with at least two active reports, and one plain member reporting to them.

    Keeps the current holders of the "manager"/"employee" logins when they still fit, so a second
    run changes nothing. Prefers a team lead of plain role (a line manager, not an admin).
    """
    departments = Department.objects.filter(enterprise=enterprise)
    head_ids = set(departments.filter(head__isnull=False).values_list("head_id", flat=True))
    parent_ids = set(departments.values_list("parent_id", flat=True))
    # Heads of departments without sub-departments: team leads, the everyday line managers.
    line_manager_ids = set(
        departments.filter(head__isnull=False)
        .exclude(pk__in=[pk for pk in parent_ids if pk is not None])
        .values_list("head_id", flat=True)
    )
    active = list(
        Member.objects.filter(enterprise=enterprise, status=MemberStatus.ACTIVE)
        .select_related("user")
        .order_by("employee_number")
    )
    by_pk = {member.pk: member for member in active}
    reports: dict[int, list[Member]] = {}
    for member in active:
        reports.setdefault(member.manager_id, []).append(member)

    def is_plain(member: Member) -> bool:
        return (
            member.role == MemberRole.MEMBER
            and not member.is_backup_admin
            and member.pk not in head_ids
        )

    def fits(manager: Member) -> bool:
        mine = reports.get(manager.pk, [])
        return manager.pk in head_ids and len(mine) >= 2 and any(map(is_plain, mine))

    current = next((m for m in active if m.user.username == "manager"), None)
    if current is None or not fits(current):
        candidates = [m for m in by_pk.values() if fits(m)]
        # Prefer a line manager of plain role (not an admin), then the lowest employee number.
        candidates.sort(
            key=lambda m: (
                m.role != MemberRole.MEMBER or m.is_backup_admin,
                m.pk not in line_manager_ids,
            )
        )
        if not candidates:
            raise CommandError(
                f"--demo-logins needs a department head of {enterprise} with at least two active "
                "reports; seed more members (e.g. --members 30)."
            )
        current = candidates[0]
    manager = current
    plain_reports = [m for m in reports[manager.pk] if is_plain(m)]
    employee = next((m for m in plain_reports if m.user.username == "employee"), plain_reports[0])
    return manager, employee


def claim_username(user, username: str) -> None:
    """Give a member's user a demo login name and password (and take it from whoever had it)."""
    User = get_user_model()
    holder = User.objects.filter(username=username).exclude(pk=user.pk).first()
    if holder is not None:
        # Another member (of this or another enterprise) had this login: give it back its seeded
        # name and lock it again. A user who is no member is not ours to rename.
        member = Member.objects.filter(user=holder).select_related("enterprise").first()
        if member is None:
            raise CommandError(
                f"The username {username!r} belongs to a user who is not a member of any "
                "enterprise; rename that user to let --demo-logins use the name."
            )
        holder.username = seeded_username(member.enterprise.name, member.employee_number)
        holder.set_unusable_password()
        holder.save(update_fields=["username", "password"])
    changed = False
    if user.username != username:
        user.username = username
        changed = True
    if user.is_staff or user.is_superuser or not user.is_active:
        # A manager or an employee works in the plain web pages, not the admin.
        user.is_staff = user.is_superuser = False
        user.is_active = True
        changed = True
    if not user.check_password(DEMO_PASSWORDS[username]):
        user.set_password(DEMO_PASSWORDS[username])
        changed = True
    if changed:
        user.save()


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------


class Command(BaseCommand):
    help = (
        "Create or top up a believable demo enterprise: departments, members, managers, admins "
        "and the resources members own. Idempotent: never duplicates, only adds what is missing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--members",
            type=int,
            required=True,
            metavar="N",
            help="how many members the enterprise should have (tops up, never removes)",
        )
        parser.add_argument(
            "--enterprise",
            default=DEFAULT_ENTERPRISE,
            metavar="NAME",
            help=f"the enterprise's name (default {DEFAULT_ENTERPRISE})",
        )
        parser.add_argument(
            "--demo-logins",
            action="store_true",
            help="also ensure the logins admin, hr, manager and employee and print them",
        )

    def handle(self, *args, members, enterprise, demo_logins, verbosity, **options):
        self.verbosity = verbosity
        name = (enterprise or "").strip()
        if members is None or members < 1:
            raise CommandError(f"--members must be at least 1 (got {members}).")
        if members > MAX_MEMBERS:
            raise CommandError(f"--members must be at most {MAX_MEMBERS:,} (got {members:,}).")
        if not name:
            raise CommandError("--enterprise must not be empty.")
        max_length = Enterprise._meta.get_field("name").max_length
        if len(name) > max_length:
            raise CommandError(f"--enterprise must be at most {max_length} characters.")

        started = time.monotonic()
        seeder = None
        # One transaction: a failure anywhere leaves the database exactly as it was.
        with transaction.atomic():
            target, created = self.get_or_create_enterprise(name)
            existing = Member.objects.filter(enterprise=target).count()
            if existing < members:
                seeder = Seeder(target, members, progress_file=self.stderr._out)
                seeder.run()
            logins_started = time.monotonic()
            logins = ensure_demo_logins(target) if demo_logins else []
            logins_seconds = time.monotonic() - logins_started  # password hashing, mostly
            commit_started = time.monotonic()
        # Reported once committed: the commit runs the deferred foreign-key checks, part of the
        # time seeding takes.
        seconds = time.monotonic() - started - logins_seconds
        if seeder is not None:
            seeder.timings["commit"] = time.monotonic() - commit_started
        if seeder is None:
            self.stdout.write(
                f"{target} already has {existing:,} members (asked for {members:,}): "
                "nothing to add."
            )
        else:
            self.report(target, created, existing, seeder, seconds)
        if logins:
            self.print_logins(logins)

    def get_or_create_enterprise(self, name: str) -> tuple[Enterprise, bool]:
        # Locked, so two seeds of the same enterprise at once queue up instead of colliding.
        enterprise = Enterprise.objects.select_for_update().filter(name=name).first()
        if enterprise is not None:
            return enterprise, False
        enterprise = Enterprise(name=name, data_region=DataRegion.CN, time_zone="Asia/Shanghai")
        enterprise._change_reason = CHANGE_REASON  # read by simple_history's post_save
        enterprise.save()
        return enterprise, True

    def report(self, enterprise, created, existing, seeder, seconds) -> None:
        counts = seeder.created
        action = f"Created {enterprise}" if created else (
            f"Topped up {enterprise} (it had {existing:,} members)"
        )
        first, last = seeder.employee_numbers
        self.stdout.write(
            self.style.SUCCESS(
                f"{action}: added {counts['members']:,} members ({first}–{last}) "
                f"and {counts['departments']:,} departments in {seconds:.1f} s."
            )
        )
        owned = ", ".join(
            f"{counts[model.__name__]:,} {model._meta.verbose_name_plural}"
            for model in OWNED_RESOURCE_MODELS
        )
        self.stdout.write(f"  Owned resources added: {owned}.")
        total = Member.objects.filter(enterprise=enterprise).count()
        self.stdout.write(f"  {enterprise} now has {total:,} members.")
        if self.verbosity >= 2:
            for phase, phase_seconds in seeder.timings.items():
                self.stdout.write(f"  {phase}: {phase_seconds:.1f} s")

    def print_logins(self, logins: list[DemoLogin]) -> None:
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING("Demo logins"))
        for login in logins:
            self.stdout.write(
                f"  {login.username:<9} password {login.password:<18} {login.url:<29} {login.who}"
            )
