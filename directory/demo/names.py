"""Names for the demo: people, customer companies, usernames and employee numbers."""

import functools
import hashlib
import itertools
import random

from django.utils.text import slugify

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

# Customer companies: <city><word><industry>有限公司 (杭州恒信科技有限公司).
CITIES = (
    "上海", "北京", "深圳", "广州", "杭州", "南京", "苏州", "成都", "武汉", "西安", "重庆", "天津",
    "长沙", "郑州", "青岛", "宁波", "厦门", "合肥", "济南", "东莞", "佛山", "无锡", "福州", "昆明",
)  # fmt: skip
COMPANY_WORDS = (
    "恒信", "华泰", "瑞丰", "中联", "鼎盛", "宏达", "新元", "博远", "嘉禾", "天诚", "金桥", "明德",
    "远航", "同创", "汇通", "启明", "长青", "正源", "聚能", "云帆", "润和", "星辰", "永安", "高科",
)  # fmt: skip
INDUSTRIES = (
    "科技", "贸易", "智能制造", "物流", "医疗器械", "电子", "实业", "信息技术", "供应链", "建材",
    "食品", "新能源", "生物科技", "文化传媒", "教育科技", "汽车零部件",
)  # fmt: skip


def person_name(rng: random.Random) -> tuple[str, str]:
    """(surname, given name): a common surname, a given name of one or two characters."""
    surname = rng.choices(_SURNAME_CHOICES, cum_weights=_SURNAME_CUM_WEIGHTS)[0]
    length = 1 if rng.random() < 0.3 else 2
    return surname, "".join(rng.choices(GIVEN_NAME_CHARACTERS, k=length))


def company(rng: random.Random) -> tuple[str, str]:
    """A customer company: (short name, full name)."""
    short = rng.choice(CITIES) + rng.choice(COMPANY_WORDS)
    return short, f"{short}{rng.choice(INDUSTRIES)}有限公司"


def chinese_numeral(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 35 → 三十五 (team numbers stay well below 100)."""
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")
    return str(n)


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
    """The sequence number of an employee number the seeding wrote (E000042 → 42), else None."""
    if value[:1] == "E" and value[1:].isdigit():
        return int(value[1:])
    return None
