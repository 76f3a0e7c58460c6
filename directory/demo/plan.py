"""The department plan: which departments an enterprise of N members has, and their titles.

公司 → 中心 → 部门 → 小组, about one department per ten members. The plan only grows: the first k
planned departments of a bigger enterprise are the k departments of a smaller one, so a top-up
appends departments and never renames or moves what an earlier run created.
"""

import itertools
import random
from collections import Counter
from dataclasses import dataclass

from directory.choices import DataRegion
from directory.models import Department

from .names import chinese_numeral

MEMBERS_PER_DEPARTMENT = 10

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

# Titles and roles.

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


def staff_title(rng: random.Random, planned: PlannedDepartment) -> str:
    """The job title of someone in `planned` who is not its head, by the department's kind."""
    titles, weights = zip(*STAFF_TITLES[planned.kind], strict=True)
    return rng.choices(titles, weights)[0]
